"""pocketsphinx with the en-us model its PyPI package ships: a working engine with no download.

Two ways to listen (``asr.pocketsphinx_grammar``), measured by benchmarks/asr_rtf.py on espeak-ng
speech through a G.711 line:
- ``general``: the shipped en-us language model (130,000 words). It mishears most words of
  telephone speech ("the street light on main road is broken" came out "three on the road in
  broken"); no key phrase of nine was heard. RTF about 0.2.
- ``vocabulary``: a small trigram model built at start-up from the hotline's English key phrases,
  everyday complaint words and a few typical sentences. Words outside it are never output (the
  nearest-sounding word in it comes out instead); the key phrases, which cases and alerts are
  made from, come out far more reliably (7 of 9). RTF about 0.05.

A JSGF word-loop grammar over the same words was tried first: pocketsphinx's grammar search has
no lexicon tree, so a loop of 150 words already decoded at 5-7x real time, and beams narrow enough
to make it fast lost every word."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import pocketsphinx
from pocketsphinx.lm import ArpaBoLM

from hotline.settings import KeyPhraseSettings
from recording.asr.audio_input import prepare
from recording.asr.base import Pcm, Segment, Word

log = logging.getLogger("recording.asr.pocketsphinx")

RATE = 16000  # the en-us acoustic model's rate; at 8 kHz its front end fails to initialise
FRAMES_PER_SECOND = 100  # pocketsphinx's frame shift is 10 ms

# What people say on a complaints line, besides the key phrases (which come from the settings).
_EVERYDAY = """
a about above accident address after afternoon again against ago all almost already also always am
ambulance an and angry another any anybody anyone anything apartment are area around as ask asked at
awake away back bad barking be because been before behind being below best better between bicycle
big bike bill bills bin bins block blocked boiler boss both bridge broken brother building buildings
burning burst bus business but by call called calling can cannot car cars case cause ceiling center
centre charge child children city clean cleaned close closed cold collect collected come comes
coming community company complain complaint construction corner could council court cover crack
cracked cross crossing cut damage damaged danger dangerous dark day days dead did didn't dirty
district do does dog dogs doing done door down downstairs drain drains drinking drive driver dry
during dust each early east eight elderly electricity elevator else emergency empty end enough
entrance estate even evening ever every everyone everything excuse exit explosion eye factory family
far fell few fifteen fifth first five fix fixed flat flood flooded flooding floor for four fourth
friday from front full garbage gate get getting give go goes going gone good got had half hall hand
happen happened has have having he health hear heard heat heater heating hello help her here hi high
hole home hospital hot hour hours house how hurry hurt husband i if ill in injured inside into is it
its just keep kids kind kitchen know lamp lamps landlord lane last late later leaking left less lift
light lights like line litter little live lives living long look looks lost lot lots loud made mail
main make man many market may me mess meter might minutes missing monday money month months more
morning most mother move much music my name near need needs neighbour neighbour's neighbours never
new next night nine no nobody noise noisy none north not nothing now number of off office often old
on once one only open or other our out outside over overflowing owe owes own owner paid park parking
part pavement pay people phone pipe pipes place please pole police post pothole power problem
problems public put quickly quite rain rang really rent repair repaired report reported resident
residents restaurant right river road roads roof room route rubbish run running safe said salary
same saturday say school second see seen sell send seven sewage sewer she shop should shower shut
sick side sign signal since sink sir site six sleep small smell smells smelly smoke so some someone
something soon sorry south speak speed staff stairs stairwell start started station still stop
stopped street streets stuck such summer sunday supply sure take taken talk tap taxi tell ten than
thank thanks that the their them then there these they thing things think third this those three
through thursday ticket till time times timetable to today toilet told tomorrow tonight too took
town traffic trash tree trees truck trucks tuesday turn turned twice two under until up upstairs
urgent us use used very village wait waiting walk wall want wanted was water way we wednesday week
weeks well went were west wet what when where which while who why will window winter wire wires
with without woman work worker workers working would wrong yard year years yes yesterday yet you
your
"""
EVERYDAY_WORDS = _EVERYDAY.split()

# Word order as callers use it, so the model prefers "the light on our street" to a word salad.
EVERYDAY_SENTENCES = (
    "hello i want to make a complaint",
    "the light on our street has been broken since last week",
    "please send someone to fix it",
    "nobody has come to repair it",
    "it is very dangerous for the children at night",
    "i have called three times already",
    "the pipe in our building is leaking",
    "the road outside our house has a big hole",
    "our neighbours are too loud at night",
    "there is a problem in our building",
    "i live on main road near the bus station",
    "thank you very much",
    "yes that is right",
    "no that is not right",
    "can you tell me when it will be fixed",
    "i will report it today",
)
# Each English key phrase, in the frames callers put it in.
KEY_PHRASE_FRAMES = (
    "{}",
    "there is a {}",
    "there is a {} in our building",
    "the {} is broken",
    "the {} on our street is broken",
    "i want to report a {}",
    "we have had a {} since this morning",
)
KEY_PHRASE_WEIGHT = 3  # each frame this many times: the phrases outweigh look-alike word pairs


def english_phrases(phrases: Sequence[KeyPhraseSettings]) -> list[str]:
    """The key phrases this English model can hear, lower-cased and single-spaced; the Chinese
    ones are for vosk."""
    found = []
    for setting in phrases:
        phrase = " ".join(setting.phrase.lower().replace("-", " ").split())
        if re.fullmatch(r"[a-z][a-z' ]*", phrase) and phrase not in found:
            found.append(phrase)
    return found


def open_a(phones: str) -> str | None:
    """The word with the open [a] of British and Chinese-accented English where cmudict, being
    American, has AE; None when it has no AE."""
    split = phones.split()
    return " ".join("AA" if p == "AE" else p for p in split) if "AE" in split else None


def vocabulary_corpus(
    english: Sequence[str], known: Callable[[str], bool]
) -> tuple[str, set[str], list[str]]:
    """(training text, words in it, words left out) for the hotline's language model. A key phrase
    with a word the dictionary lacks is left out whole: half a phrase could never be spotted."""
    dropped = sorted({w for w in EVERYDAY_WORDS if not known(w)})
    lines = [w for w in EVERYDAY_WORDS if known(w)]
    lines += [s for s in EVERYDAY_SENTENCES if all(known(w) for w in s.split())]
    for phrase in english:
        missing = [w for w in phrase.split() if not known(w)]
        if missing:
            dropped.append(f"{' '.join(missing)} (so the key phrase {phrase!r})")
            continue
        lines += [frame.format(phrase) for frame in KEY_PHRASE_FRAMES] * KEY_PHRASE_WEIGHT
    words = {w for line in lines for w in line.split()}
    return "\n".join(lines) + "\n", words, dropped


class PocketsphinxEngine:
    """One decoder, loaded once; ``transcribe`` decodes one leg at a time (not thread-safe: a
    Celery prefork child runs one job at a time)."""

    name = "pocketsphinx"

    def __init__(
        self, grammar: Literal["general", "vocabulary"], phrases: Sequence[KeyPhraseSettings]
    ) -> None:
        config = pocketsphinx.Config(
            hmm=_model_path("en-us"),
            dict=_model_path("cmudict-en-us.dict"),
            lm=_model_path("en-us.lm.bin") if grammar == "general" else None,
            samprate=RATE,
            loglevel="FATAL",  # its INFO lines go straight to stderr, past our logging
        )
        self._decoder = pocketsphinx.Decoder(config)
        package = f"en-us (pocketsphinx {version('pocketsphinx')})"
        if grammar == "general":
            self.model = f"{package}, general language model en-us.lm.bin"
            return
        english = english_phrases(phrases)
        corpus, words, dropped = vocabulary_corpus(english, self._known)
        for word in dropped:
            log.warning("not in the pocketsphinx dictionary, left out of the vocabulary: %s", word)
        self._add_open_a_variants(english)
        self._load_lm(corpus)
        self.model = f"{package}, hotline vocabulary: {len(words)} words, {len(english)} English key phrases"

    def _known(self, word: str) -> bool:
        return self._decoder.lookup_word(word) is not None

    def _add_open_a_variants(self, english: Sequence[str]) -> None:
        """A second pronunciation for the key phrases' words with AE (see open_a): "gas" as G AA S,
        which the model otherwise hears as "got". Measured on 192 utterances of espeak-ng's
        British and American voices: "I smell a gas leak" heard 5 times in 12 without, 12 with;
        nothing else changed. Dropping a final r as well ("fire" as F AY AH) found two more
        phrases but twice as many phrases never said, so it is not done."""
        for word in sorted({w for phrase in english for w in phrase.split()}):
            phones = self._decoder.lookup_word(word)
            variant = open_a(phones) if phones is not None else None
            if variant is None:
                continue
            n = 2
            while self._decoder.lookup_word(f"{word}({n})") is not None:
                n += 1
            self._decoder.add_word(f"{word}({n})", variant, update=True)

    def _load_lm(self, corpus: str) -> None:
        model = ArpaBoLM(text=corpus, add_start=True)
        model.compute()
        with tempfile.TemporaryDirectory(prefix="hotline-lm-") as tmp:
            arpa = Path(tmp) / "hotline.arpa"  # pocketsphinx reads a model only from a file
            with arpa.open("w", encoding="utf-8") as out:
                model.write(out)
            self._decoder.add_lm_file("hotline", str(arpa))
        self._decoder.activate_search("hotline")

    def transcribe(self, samples: Pcm, sample_rate: int) -> list[Segment]:
        pcm = prepare(samples, sample_rate, RATE)
        found = (self._decode(speech, start) for start, speech in _speech_regions(pcm))
        return [segment for segment in found if segment is not None]

    def _decode(self, speech: bytes, offset: float) -> Segment | None:
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(speech, full_utt=True)
        decoder.end_utt()
        words = tuple(
            Word(
                text=_base_word(seg.word),
                start=round(offset + seg.start_frame / FRAMES_PER_SECOND, 3),
                # end_frame is inclusive
                end=round(offset + (seg.end_frame + 1) / FRAMES_PER_SECOND, 3),
                confidence=round(float(seg.prob), 3),
            )
            # seg() is None when the search found no path through the stretch at all (seen on a
            # noisy stretch under load in the 90-call benchmark): no words, not an error.
            for seg in decoder.seg() or ()
            if not _is_filler(seg.word)
        )
        if not words:
            return None
        return Segment(
            start=words[0].start, end=words[-1].end, text=" ".join(w.text for w in words), words=words
        )


def _model_path(name: str) -> str:
    return str(pocketsphinx.get_model_path(f"en-us/{name}"))


def _is_filler(word: str) -> bool:
    """Silence, sentence marks and noise models: <s>, </s>, <sil>, [NOISE], ++GARBAGE++."""
    return word.startswith(("<", "[", "++"))


def _base_word(word: str) -> str:
    """cmudict names alternative pronunciations ``word(2)``."""
    return re.sub(r"\(\d+\)$", "", word)


def _speech_regions(pcm: Pcm) -> Iterator[tuple[float, bytes]]:
    """(start in seconds, audio) of each stretch of speech, found by pocketsphinx's endpointer.
    One utterance per stretch keeps the decoder's memory bounded on an hour-long leg."""
    endpointer = pocketsphinx.Endpointer(sample_rate=RATE)
    data = pcm.tobytes()
    size = endpointer.frame_bytes
    parts: list[bytes] = []
    start = 0.0
    for at in range(0, len(data), size):
        frame = data[at : at + size]
        final = at + size >= len(data)
        if final and endpointer.in_speech:
            speech = endpointer.end_stream(frame)  # flushes what its window still holds back
        elif len(frame) == size:
            speech = endpointer.process(frame)
        else:
            speech = None
        if speech is None:
            continue
        if not parts:
            start = endpointer.speech_start
        parts.append(speech)
        if final or not endpointer.in_speech:
            yield start, b"".join(parts)
            parts = []
