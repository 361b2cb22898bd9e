# The README's two commands. Both install what they need first (idempotent).
.PHONY: run test lint unit integration bench bench-seats bench-screen-pop bench-recording bench-cases bootstrap clean-runtime

run:
	@scripts/bootstrap.sh run
	@.venv/bin/hotline run

test:
	@scripts/bootstrap.sh test
	@scripts/test.sh

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .
	.venv/bin/python scripts/check_boundaries.py

unit:
	.venv/bin/pytest tests/unit -q

integration:
	.venv/bin/pytest tests/integration -q

bench:
	@scripts/bootstrap.sh test
	@.venv/bin/hotline install
	.venv/bin/python -m benchmarks.ivr_load
	.venv/bin/python -m benchmarks.seat_push
	.venv/bin/python -m benchmarks.screen_pop
	.venv/bin/python -m benchmarks.asr_rtf
	.venv/bin/python -m benchmarks.recording_storage
	if [ -f benchmarks/recording_search.py ]; then .venv/bin/python -m benchmarks.recording_search; \
	else echo "benchmarks/recording_search.py not there: search latency skipped"; fi
	.venv/bin/python -m benchmarks.transcription_load --recording-cost
	.venv/bin/python -m benchmarks.transcription_load
	.venv/bin/python -m benchmarks.case_api

bench-seats:
	@scripts/bootstrap.sh test
	.venv/bin/python -m benchmarks.seat_push

bench-screen-pop:
	@scripts/bootstrap.sh test
	@.venv/bin/hotline install
	.venv/bin/python -m benchmarks.screen_pop

# ASR real-time factor, archive bytes per recorded hour, search over 1M calls, and transcription
# turnaround under the 90-call IVR load (docs/benchmarks.md, "Recording and transcription").
bench-recording:
	@scripts/bootstrap.sh test
	@.venv/bin/hotline install
	.venv/bin/python -m benchmarks.asr_rtf
	.venv/bin/python -m benchmarks.recording_storage
	if [ -f benchmarks/recording_search.py ]; then .venv/bin/python -m benchmarks.recording_search; \
	else echo "benchmarks/recording_search.py not there: search latency skipped"; fi
	.venv/bin/python -m benchmarks.transcription_load --recording-cost
	.venv/bin/python -m benchmarks.transcription_load

# Case API latency at 100 requests/s (create, search, /healthz as the floor) over a year of cases,
# SQLite and PostgreSQL (docs/benchmarks.md, "Cases"). The generated datasets are kept in
# /var/tmp/hotline-bench-case-api and used again while they match.
bench-cases:
	@scripts/bootstrap.sh test
	.venv/bin/python -m benchmarks.case_api
