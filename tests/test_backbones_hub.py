"""trainers.backbones.hub through the loader, in subprocesses (huggingface_hub reads its cache
and endpoint settings when imported): a fake Hugging Face cache (refs/snapshots/blobs) with
``HF_HUB_OFFLINE=1`` -- a pinned revision resolves, a missing file is one line with the fix, a
corrupted blob is refused by the SHA-256 check, OpenAI's legacy file still loads -- and a fake hub
endpoint on localhost for the download itself."""
import hashlib
import http.server
import os
import subprocess
import sys
import threading

import pytest
from safetensors.torch import save

from tests.helpers import ROOT

REPO, REV = "timm/vit_base_patch16_clip_224.openai", "977e3dd0ec55ab8da155f2fbeb6b5f54948b6e3d"
FILE = "open_clip_model.safetensors"
# Make the ViT-B/16 row (and its legacy file) describe the tiny weights the test built, then act.
PATCH = ("import dataclasses, sys; from trainers.backbones import names; "
         "names.PUBLISHED['ViT-B/16'] = dataclasses.replace(names.PUBLISHED['ViT-B/16'], sha256=sys.argv[1]); "
         "old = names.legacy; names.legacy = lambda n: dataclasses.replace(old(n), sha256=sys.argv[1]) "
         "if n == 'ViT-B/16' else old(n); ")
LOCATE = PATCH + ("from trainers.backbones import locate, load\nfor name in sys.argv[2:]:\n"
                  "    b = locate(name, allow_download=True); load(b); print('FOUND', b.path, b.activation, b.source)")


@pytest.fixture(scope="module")
def weights(tiny_clip_files):
    """The tiny CLIP as a hub file's bytes (OpenAI/open_clip layout, no activation stated) and their SHA-256."""
    data = save({k: v.contiguous() for k, v in tiny_clip_files["model"].state_dict().items()})
    return data, hashlib.sha256(data).hexdigest()


def _cache(root, repo, rev, files, main=True):
    """A Hugging Face cache holding ``files`` of ``repo`` at ``rev`` (blobs named by their hash)."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    (folder / "snapshots" / rev).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, folder / "snapshots" / rev), folder / "snapshots" / rev / name)
    if main:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(rev)
    return folder


def _run(tmp_path, code, *args, **env):
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, "PYTHONPATH": ROOT, "HOME": str(home), "HF_HUB_CACHE": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    full.pop("CLIP_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=120)


def test_pinned_revision_resolves_offline(tmp_path, weights):
    data, sha = weights
    _cache(tmp_path / "hf", REPO, REV, {FILE: data}, main=False)  # no refs: the pinned commit alone finds it
    res = _run(tmp_path, LOCATE, sha, "ViT-B/16", f"hf-hub:{REPO}")  # the hub id of a table row is that row
    assert res.returncode == 0, res.stderr
    for line in [x for x in res.stdout.splitlines() if x.startswith("FOUND ")]:
        found = line.split()[1:]
        assert found[0].endswith(f"snapshots/{REV}/{FILE}") and found[1] == "quick_gelu"
        assert found[2] == f"hf-hub:{REPO}@{REV}/{FILE}"
    assert res.stdout.count("FOUND ") == 2


def test_missing_file_is_one_error_line_with_the_fix(tmp_path):
    (tmp_path / "hf").mkdir()
    res = subprocess.run([sys.executable, "train.py", "--trainer", "ZeroshotCLIP", "--backbone", "ViT-B/16",
                          "--output-dir", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HOME=str(tmp_path), HF_HUB_CACHE=str(tmp_path / "hf"), HF_HUB_OFFLINE="1"))
    assert res.returncode == 2 and res.stdout.count("\n") == 1 and res.stdout.startswith("ERROR: "), res.stdout
    line = res.stdout
    assert str(tmp_path / ".cache" / "clip" / "ViT-B-16.pt") in line and str(tmp_path / "hf") in line
    assert "downloads are off (HF_HUB_OFFLINE=1)" in line and f"`hf download {REPO} {FILE} --revision {REV}`" in line
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_corrupted_blob_is_refused_by_the_sha256_check(tmp_path, weights):
    data, sha = weights
    folder = _cache(tmp_path / "hf", REPO, REV, {FILE: data})
    blob = folder / "blobs" / sha
    blob.write_bytes(data[:-7] + b"garbage")  # same size: the hub's own check (sizes) passes
    res = _run(tmp_path, LOCATE, sha, "ViT-B/16")
    assert res.returncode != 0 and f"not the published {sha}" in res.stderr and "--force-download" in res.stderr
    assert "Weights of your own (a fine-tune) load by path" in res.stderr and "does not override" in res.stderr


def test_the_published_bytes_under_another_snapshot_are_found_offline(tmp_path, weights):
    data, sha = weights
    other = "0" * 40  # fetched at another revision, or copied from another machine's cache
    _cache(tmp_path / "hf", REPO, other, {FILE: data}, main=False)
    res = _run(tmp_path, LOCATE, sha, "ViT-B/16")
    stored = tmp_path / "hf" / f"models--{REPO.replace('/', '--')}" / "snapshots" / other / FILE
    assert res.returncode == 0 and f"FOUND {stored}" in res.stdout, res.stderr
    assert "using the identical file (same sha256)" in res.stdout
    res = _run(tmp_path, LOCATE, "f" * 64, "ViT-B/16")  # other bytes than the table's hash: still not found
    assert res.returncode != 0 and "not found" in res.stderr


def test_an_unreachable_hub_is_one_line_without_retries(tmp_path):
    fetch = "from trainers.backbones.__main__ import main; import sys; sys.exit(main(['fetch', 'ViT-B/16']))"
    res = _run(tmp_path, fetch, HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9")  # nothing listens on port 9
    assert res.returncode == 2 and res.stdout.count("\n") == 1 and res.stdout.startswith("ERROR: "), res.stdout
    assert "this machine cannot reach the hub at 127.0.0.1" in res.stdout and "on a machine that reaches the hub" in res.stdout
    assert "Retrying" not in res.stdout + res.stderr


def test_legacy_cache_file_still_loads(tmp_path, tiny_clip_files):
    legacy = tmp_path / "home" / ".cache" / "clip"
    legacy.mkdir(parents=True)
    (legacy / "ViT-B-16.pt").write_bytes(open(tiny_clip_files["jit"], "rb").read())
    sha = hashlib.sha256((legacy / "ViT-B-16.pt").read_bytes()).hexdigest()
    (tmp_path / "hf").mkdir()
    res = _run(tmp_path, LOCATE, sha, "ViT-B/16")
    assert res.returncode == 0, res.stderr
    assert f"FOUND {legacy / 'ViT-B-16.pt'} quick_gelu legacy" in res.stdout


def test_hub_repo_in_transformers_format_resolves_through_refs_main(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.CLIPConfig(
        text_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=1, num_attention_heads=1,
                         hidden_act="gelu", vocab_size=49408, max_position_embeddings=77),
        vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=1, num_attention_heads=1,
                           hidden_act="gelu", image_size=32, patch_size=8), projection_dim=32)
    folder = tmp_path / "saved"
    transformers.CLIPModel(cfg).save_pretrained(folder)
    rev = "1" * 40
    _cache(tmp_path / "hf", "someone/clip-tiny", rev, {n: (folder / n).read_bytes() for n in os.listdir(folder)})
    res = _run(tmp_path, LOCATE, "0", "hf-hub:someone/clip-tiny")
    assert res.returncode == 0, res.stderr
    assert f"snapshots/{rev}/model.safetensors gelu hf-hub:someone/clip-tiny@{rev}" in res.stdout


class _FakeHub(http.server.BaseHTTPRequestHandler):
    """``/<org>/<name>/resolve/<revision>/<file>`` as the hub answers it (commit, etag, size)."""

    files: dict = {}

    def _answer(self, body: bool) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        repo, rev, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        data = self.files.get((repo, name))
        if data is None or rev not in (REV, "main"):
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", REV)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_HEAD(self):  # noqa: N802 (http.server's names)
        self._answer(False)

    def do_GET(self):  # noqa: N802
        self._answer(True)

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_hub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_downloads_into_the_cache_and_a_later_offline_run_finds_it(tmp_path, weights, fake_hub):
    data, sha = weights
    _FakeHub.files = {(REPO, FILE): data}
    fetch = PATCH + "from trainers.backbones.__main__ import main; sys.exit(main(['fetch', sys.argv[2]]))"
    res = _run(tmp_path, fetch, sha, "ViT-B/16", HF_HUB_OFFLINE="0", HF_ENDPOINT=fake_hub)
    assert res.returncode == 0, res.stdout + res.stderr
    stored = tmp_path / "hf" / f"models--{REPO.replace('/', '--')}" / "snapshots" / REV / FILE
    assert f"file: {stored}" in res.stdout and stored.read_bytes() == data
    res = _run(tmp_path, LOCATE, sha, "ViT-B/16")  # offline again: the cache serves it
    assert res.returncode == 0 and f"FOUND {stored}" in res.stdout, res.stderr

    _FakeHub.files = {(REPO, FILE): data[:-1] + b"x"}  # the hub serves other bytes: refused after the download
    res = _run(tmp_path / "again", fetch, sha, "ViT-B/16", HF_HUB_OFFLINE="0", HF_ENDPOINT=fake_hub)
    assert res.returncode == 2 and res.stdout.startswith("ERROR: ") and f"not the published {sha}" in res.stdout

