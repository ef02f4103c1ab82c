"""JobRunner without Discord or a queue: the job bodies against the engine double."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from bot.blobs import Blobs
from bot.corpus import Corpus
from bot.jobs import Job
from bot.params import UpscaleParams
from bot.work import JobRunner
from tests.bot.conftest import ANNOTATIONS, PAINTINGS
from tests.bot.fakes import FakeEngine


def test_upscale_of_a_painting_gone_from_the_corpus_still_succeeds_without_meta(tmp_path: Path) -> None:
    blobs = Blobs(tmp_path / "files")
    runner = JobRunner(FakeEngine(ANNOTATIONS), blobs, Corpus(PAINTINGS), work_long_side=64)
    source = tmp_path / "source.png"
    Image.new("RGB", (32, 24), (200, 40, 40)).save(source)
    params = UpscaleParams(
        image_path=str(source), source_output="o1", painting="no-longer-in-the-corpus", seed=7
    )
    job = Job(user_id=1, params=params)
    stages: list[str] = []

    outcome = runner(job, stages.append)

    assert stages == ["upscale"]
    assert outcome.kind == "upscale"
    assert outcome.painting == "no-longer-in-the-corpus"
    assert outcome.painting_meta is None
    assert outcome.seed == 7
    with Image.open(outcome.image_path) as saved:
        assert saved.size == (64, 48)
