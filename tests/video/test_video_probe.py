"""probe(): size, rate and exact frame counts of the real sample videos, and clear errors for bad files."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from selftrack.core.errors import SelftrackError, VideoError
from selftrack.video import probe


@pytest.mark.realdata
def test_pets09_is_795_frames_768x576(shared_data: Path) -> None:
    info = probe(shared_data / "pets09-s2l1" / "video.avi")
    assert (info.width, info.height, info.frame_count) == (768, 576, 795)
    assert info.codec.startswith("msmpeg4")  # README: MS-MPEG4
    assert info.pix_fmt == "yuv420p"
    assert info.path.endswith("video.avi")
    assert info.duration == pytest.approx(795 / float(info.fps))


# Sizes, frame counts and rates as stated in shared/data/README.md (frame counts are full-decode counts:
# the AVI headers of the two highway videos claim 750 and 1700).
VIDEOS = [
    ("highway_overpass_cdnet.avi", 320, 240, 1699, None),
    ("highway_cctv.avi", 320, 240, 748, Fraction(25)),
    ("ua_detrac_intersection.mp4", 960, 540, 252, Fraction(30)),
    ("indoor_people_one_by_one.mp4", 768, 432, 1394, None),
    ("parking_lot_top_down.mp4", 768, 432, 377, None),
    ("street_8_frames.mp4", 1920, 1080, 8, Fraction(3)),
]


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "width", "height", "frames", "fps"), VIDEOS)
def test_sample_videos(
    shared_data: Path, name: str, width: int, height: int, frames: int, fps: Fraction | None
) -> None:
    info = probe(shared_data / "videos" / name)
    assert (info.width, info.height, info.frame_count) == (width, height, frames)
    if fps is not None:
        assert info.fps == fps
    assert isinstance(info.fps, Fraction) and info.fps > 0
    assert info.fps.denominator <= 1001


@pytest.mark.realdata
def test_odd_avi_header_rate_is_normalised(shared_data: Path) -> None:
    # The CDnet AVI header stores 214748359/3579125 fps (60.00024); the probe reports 60.
    assert probe(shared_data / "videos" / "highway_overpass_cdnet.avi").fps == 60


def test_missing_file_error_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "clip.mp4"
    with pytest.raises(VideoError, match="no such file") as err:
        probe(missing)
    assert str(missing) in str(err.value)


def test_random_bytes_are_not_a_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="not a readable video") as err:
        probe(junk)
    assert str(junk) in str(err.value)
    assert isinstance(err.value, SelftrackError)


def test_empty_file_and_folder_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.avi"):
        probe(empty)
    with pytest.raises(VideoError, match="is a folder"):
        probe(tmp_path)


def test_text_file_is_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.avi"
    text.write_text("frame,id,left,top\n" * 200)
    with pytest.raises(VideoError, match=r"notes\.avi"):
        probe(text)


def _truncated_copy(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["highway_cctv.avi", "parking_lot_top_down.mp4"])
def test_truncated_file_is_refused_naming_the_file_and_frames(shared_data: Path, tmp_path: Path, name: str) -> None:
    full = probe(shared_data / "videos" / name)
    cut = _truncated_copy(shared_data / "videos" / name, tmp_path / f"cut_{name}", 0.6)
    with pytest.raises(VideoError, match="truncated") as err:
        probe(cut)
    msg = str(err.value)
    assert str(cut) in msg
    assert "allow_truncated" in msg  # says how to read the good part
    # names how many frames the container declares (its header count, >= the decodable count)
    declared = int(msg.split(" of the ")[1].split()[0])
    assert declared >= full.frame_count

    good = probe(cut, allow_truncated=True)
    assert 0.4 * full.frame_count < good.frame_count < full.frame_count
    assert (good.width, good.height) == (full.width, full.height)


@pytest.mark.realdata
def test_mp4_cut_before_its_index_cannot_be_read(shared_data: Path, tmp_path: Path) -> None:
    # ua_detrac's index (moov) is at the end of the file: a cut copy has no index at all.
    cut = _truncated_copy(shared_data / "videos" / "ua_detrac_intersection.mp4", tmp_path / "cut.mp4", 0.6)
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        probe(cut, allow_truncated=True)


@pytest.mark.realdata
def test_copy_of_a_real_file_probes_the_same(shared_data: Path, tmp_path: Path) -> None:
    # The count must not depend on the file name or extension.
    copy = tmp_path / "renamed.bin"
    shutil.copyfile(shared_data / "videos" / "highway_cctv.avi", copy)
    assert probe(copy).frame_count == 748


def test_probe_is_remembered_per_file_version(tmp_path):
    """Probing the same file again reuses the first result; a rewritten file is probed afresh."""
    import numpy as np

    from selftrack.video import VideoWriter, probe

    path = tmp_path / "v.mp4"
    for frames in (3, 5):
        with VideoWriter(path, 10, (64, 48)) as w:
            for i in range(frames):
                w.write(np.full((48, 64, 3), 40 * i, dtype=np.uint8))
        assert probe(path).frame_count == frames
        assert probe(path) is probe(path)  # one demux per file version
