"""Photo sets are decoded once: vkan.data.photos keeps the uint8 squares in VKAN_CACHE_DIR for later runs."""
import logging
import threading
import time

import pytest
import torch
from PIL import Image
from torchvision.datasets import ImageFolder

from vkan.data.photos import cache_file, decode, image_folder, lock_file, partial_file


def photo_tree(root, shades=(10, 90, 170)):
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i, shade in enumerate(shades):
            Image.new("RGB", (20 + i, 24), (shade, 40 if c == "cat" else 200, 0)).save(root / c / f"{i}.png")
    return root


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("VKAN_CACHE_DIR", str(folder))
    return folder


def test_a_second_decode_loads_the_cached_squares_without_opening_a_photo(tmp_path, cache_dir, monkeypatch):
    photos = photo_tree(tmp_path / "pets")
    images, labels = decode(image_folder(photos, 16, "pets"), workers=1)
    assert images.shape == (6, 3, 16, 16) and images.dtype == torch.uint8 and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(list((cache_dir / "photos").glob("pets-16px-*.pt"))) == 1
    again = image_folder(photos, 16, "pets")
    monkeypatch.setattr(type(again), "__getitem__", lambda self, i: pytest.fail("a photo was decoded again"))
    cached_images, cached_labels = decode(again, workers=1)
    assert torch.equal(cached_images, images) and torch.equal(cached_labels, labels)


def counted_squares(monkeypatch, delay=0.0):
    """Record the index of every photo that is opened and squared (slowly, with ``delay``)."""
    opened, square = [], ImageFolder.__getitem__

    def counting(self, i):
        opened.append(i)
        time.sleep(delay)
        return square(self, i)

    monkeypatch.setattr(ImageFolder, "__getitem__", counting)
    return opened


def in_threads(*calls, timeout=60.0):
    """Run each call in a daemon thread, started together; their results (a hung call fails, it does not hang)."""
    results, start = [None] * len(calls), threading.Barrier(len(calls), timeout=timeout)

    def run(k):
        start.wait()
        results[k] = calls[k]()

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a decode did not finish"
    return results


def test_runs_starting_side_by_side_decode_the_photos_once_and_share_the_squares(tmp_path, cache_dir, monkeypatch):
    pytest.importorskip("fcntl")
    photos = photo_tree(tmp_path / "pets")
    opened = counted_squares(monkeypatch, delay=0.05)  # long enough for the second run to arrive during the first
    run = lambda: decode(image_folder(photos, 16, "pets"), workers=1)  # noqa: E731
    first, second = in_threads(run, run)  # flock locks are per open file, so two threads take turns like two runs
    assert sorted(opened) == list(range(6))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_a_run_whose_turn_before_left_no_cache_decodes_the_photos_itself(tmp_path, cache_dir, monkeypatch, caplog):
    fcntl = pytest.importorskip("fcntl")
    photos = photo_tree(tmp_path / "pets")
    expected, _ = decode(image_folder(photos, 16, "pets"), workers=1)
    entry = cache_file(image_folder(photos, 16, "pets"))
    entry.unlink()  # the other run's write failed: only its lock file is left
    opened, found = counted_squares(monkeypatch), []

    def waiting_run():
        found.append(decode(image_folder(photos, 16, "pets"), workers=1))

    with open(lock_file(entry), "a") as other_run, caplog.at_level(logging.INFO):
        fcntl.flock(other_run, fcntl.LOCK_EX)
        waiting = threading.Thread(target=waiting_run, daemon=True)
        waiting.start()
        for _ in range(600):  # until the run waits for the turn
            if "waiting to load its cache" in caplog.text:
                break
            time.sleep(0.05)
        assert "waiting to load its cache" in caplog.text
    waiting.join(60)  # the turn is let go, with no file behind it
    assert not waiting.is_alive() and sorted(opened) == list(range(6)) and torch.equal(found[0][0], expected)
    assert entry.exists()


def test_a_run_stops_waiting_for_a_turn_held_too_long_and_decodes_the_photos_itself(tmp_path, cache_dir, monkeypatch,
                                                                                  caplog):
    fcntl = pytest.importorskip("fcntl")
    photos = photo_tree(tmp_path / "pets")
    entry = cache_file(image_folder(photos, 16, "pets"))
    entry.parent.mkdir(parents=True)
    monkeypatch.setattr("vkan.data.photos.TURN_WAIT_S", 0.3)
    with open(lock_file(entry), "a") as hung_run, caplog.at_level(logging.INFO):
        fcntl.flock(hung_run, fcntl.LOCK_EX)
        (images, labels), = in_threads(lambda: decode(image_folder(photos, 16, "pets"), workers=1))
    assert images.shape == (6, 3, 16, 16) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert "decoding them here too" in caplog.text and entry.exists()


def test_a_replaced_photo_or_another_side_gets_its_own_cache_entry(tmp_path, cache_dir):
    photos = photo_tree(tmp_path / "pets")
    first, _ = decode(image_folder(photos, 16, "pets"), workers=1)
    Image.new("RGB", (40, 40), (255, 255, 255)).save(photos / "dog" / "2.png")  # replaced: another size and content
    second, _ = decode(image_folder(photos, 16, "pets"), workers=1)
    assert torch.equal(second[:5], first[:5]) and (second[5] == 255).all() and not torch.equal(second[5], first[5])
    decode(image_folder(photos, 12, "pets"), workers=1)
    assert len(list((cache_dir / "photos").glob("pets-16px-*.pt"))) == 2
    assert len(list((cache_dir / "photos").glob("pets-12px-*.pt"))) == 1


def test_a_relabelled_photo_changes_the_cache_key(tmp_path, cache_dir):
    photos = photo_tree(tmp_path / "pets")
    dataset = image_folder(photos, 16, "pets")
    before = cache_file(dataset)
    path, label = dataset.samples[0]
    dataset.samples[0] = (path, 1 - label)  # the same file, another class
    assert cache_file(dataset) != before


def test_a_cached_entry_that_does_not_fit_the_photos_is_decoded_again(tmp_path, cache_dir, caplog):
    photos = photo_tree(tmp_path / "pets")
    images, _ = decode(image_folder(photos, 16, "pets"), workers=1)
    entry = cache_file(image_folder(photos, 16, "pets"))
    torch.save({"images": images[:4], "labels": torch.zeros(4, dtype=torch.int64)}, entry)  # loadable, but stale
    with caplog.at_level(logging.WARNING):
        again, labels = decode(image_folder(photos, 16, "pets"), workers=1)
    assert torch.equal(again, images) and labels.tolist() == [0, 0, 0, 1, 1, 1] and "does not fit" in caplog.text


def test_an_unreadable_cache_file_is_decoded_again_and_replaced(tmp_path, cache_dir, caplog):
    photos = photo_tree(tmp_path / "pets")
    images, _ = decode(image_folder(photos, 16, "pets"), workers=1)
    entry = cache_file(image_folder(photos, 16, "pets"))
    entry.write_bytes(b"half a file")
    with caplog.at_level(logging.WARNING):
        again, _ = decode(image_folder(photos, 16, "pets"), workers=1)
    assert torch.equal(again, images) and "unreadable" in caplog.text
    assert torch.equal(torch.load(entry, weights_only=True)["images"], images)


def test_an_empty_cache_dir_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("VKAN_CACHE_DIR", "")
    photos = photo_tree(tmp_path / "pets")
    assert cache_file(image_folder(photos, 16, "pets")) is None
    images, _ = decode(image_folder(photos, 16, "pets"), workers=1)
    assert images.shape[0] == 6 and sorted(p.name for p in tmp_path.iterdir()) == ["pets"]


def test_an_unwritable_cache_dir_costs_only_the_cache(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("VKAN_CACHE_DIR", str(blocker))  # mkdir under a file fails for every user, root included
    photos = photo_tree(tmp_path / "pets")
    with caplog.at_level(logging.WARNING):
        images, labels = decode(image_folder(photos, 16, "pets"), workers=1)
    assert images.shape[0] == 6 and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert "could not cache" in caplog.text and "VKAN_CACHE_DIR" in caplog.text


def test_a_failed_cache_write_costs_only_the_cache_and_leaves_no_partial_file(tmp_path, cache_dir, caplog):
    photos = photo_tree(tmp_path / "pets")
    entry = cache_file(image_folder(photos, 16, "pets"))
    entry.parent.mkdir(parents=True)
    (entry.parent / "unrelated.pt").write_bytes(b"x")
    blocked = partial_file(entry)
    blocked.mkdir()  # torch.save cannot write its temporary file (it raises RuntimeError, not OSError)
    with caplog.at_level(logging.WARNING):
        images, _ = decode(image_folder(photos, 16, "pets"), workers=1)
    assert images.shape[0] == 6 and "could not cache" in caplog.text
    lock = lock_file(entry).name  # the decoding turn's lock file stays (empty) for the next run
    assert not entry.exists() and sorted(p.name for p in entry.parent.iterdir()) == sorted([blocked.name, lock,
                                                                                           "unrelated.pt"])


def test_the_cache_follows_xdg_cache_home_when_vkan_cache_dir_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("VKAN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    entry = cache_file(image_folder(photo_tree(tmp_path / "pets"), 16, "pets"))
    assert entry.parent == tmp_path / "xdg" / "vkan" / "photos"
