"""Failure modes: a locked folder, workers bound to their parent, one-line OS and corrupt-file
errors, nothing left by a failed start, no stale data mixed in, truncated input refused.

Each test reproduces one defect of the reliability audit (see docs/failure-modes.md).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsys_bench import cli
from recsys_bench.errors import CorruptFile, UserError, os_error_line
from recsys_bench.experiment import guard, runner
from recsys_bench.fileio import LOCK_NAME, RunLock
from recsys_bench.store.table import read_raw, read_results, read_run_info

ROOT = Path(__file__).resolve().parents[1]

TINY = """\
[experiment]
name = "tiny"

[[datasets]]
name = "synthetic"
options = { n_users = 300, n_items = 100, nnz = 4000, seed = 0 }

[split]
seeds = [0]
options = { split_count = 5, fraction = 0.2 }

[evaluation]
k = 5
metrics = ["precision"]
subsets = ["test"]
checkpoints = [1, 2]

[[models]]
name = "popularity"

[[models]]
name = "implicit-als"
params = { regularization = 0.1, alpha = 10 }
grid = { factors = [4, 8] }
"""


def write(folder: Path, text: str, name: str = "exp.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def cli_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}


def start_cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "recsys_bench", *args], cwd=ROOT,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def run_main(capsys, *argv) -> tuple[int, list[str]]:
    """``recsys-bench ARGV`` in this process: exit status and the stderr lines."""
    code = cli.main(list(map(str, argv)))
    return code, capsys.readouterr().err.strip().splitlines()


def processes_with(text: str) -> list[int]:
    """Live (non-zombie) processes whose command line mentions ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_for(condition, timeout: float = 60.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return False


def trial_lines(run_dir: Path) -> int:
    """Trial starts written by all workers of a run folder."""
    return sum(line.split(" ", 2)[1] == "trial"
               for log in (run_dir / "logs").glob("worker-*.log")
               for line in log.read_text().splitlines() if line.count(" ") >= 2)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A complete run of TINY (inline, so it stays cheap), to copy and damage."""
    folder = tmp_path_factory.mktemp("finished")
    return runner.run(write(folder, TINY), folder / "run", quiet=True, executor="inline")


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / "run"))


# --------------------------------------------------------------------------- 1. the folder lock

HOLD = ("import sys, time; from recsys_bench.fileio import RunLock; "
        "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)")


def test_a_held_folder_is_refused_naming_the_holder_and_a_killed_holder_is_taken_over(tmp_path):
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], env=cli_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"another run is using this folder \(pid "
                                            rf"{holder.pid}, started 20"):
            RunLock(folder).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert (folder / LOCK_NAME).exists()                     # left behind by the kill -9
    with RunLock(folder) as lock:
        assert lock.previous["pid"] == holder.pid
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (folder / LOCK_NAME).exists()


def test_a_lock_file_removed_by_its_releasing_holder_is_not_trusted(tmp_path):
    """The holder removes the file as it releases: a process that opened the old file just
    before must not think it holds the lock while a third takes the new file."""
    first = RunLock(tmp_path).acquire()
    import fcntl

    stale_fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR)
    first.release()
    fcntl.flock(stale_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)     # the old inode: free now
    second = RunLock(tmp_path).acquire()                     # must lock the new file
    with pytest.raises(UserError, match="another run"):
        RunLock(tmp_path).acquire()
    second.release()
    os.close(stale_fd)


def test_two_runs_started_together_never_both_run_trials(tmp_path):
    config = write(tmp_path, TINY)
    out = tmp_path / "run"
    runs = [start_cli("run", str(config), "--out", str(out), "--quiet") for _ in range(2)]
    results = [(p.wait(120), p.stderr.read()) for p in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2).strip().splitlines()
    assert len(refused) == 1 and "another run is using this folder (pid " in refused[0]
    assert trial_lines(out) == 3                              # each trial ran once
    assert read_run_info(out)["status"] == "complete" and len(read_run_info(out)["sessions"]) == 1


# --------------------------------------------------------------------------- 2. workers

def test_a_worker_whose_parent_is_already_gone_exits_before_its_slow_imports(tmp_path):
    from recsys_bench.experiment.executors import _BOOT
    from recsys_bench.experiment.lifeline import ORPHANED

    read_fd, write_fd = os.pipe()
    started = time.monotonic()
    worker = subprocess.run([sys.executable, "-c", _BOOT, str(read_fd), str(write_fd),
                             str(tmp_path), "1"], env=cli_env(), pass_fds=(read_fd, write_fd),
                            capture_output=True, text=True, timeout=60)
    os.close(read_fd)
    os.close(write_fd)
    assert worker.returncode == ORPHANED, worker.stderr
    assert not (tmp_path / "logs").exists()                   # it wrote nothing
    assert time.monotonic() - started < 5


def test_workers_die_with_a_killed_parent_and_write_nothing(tmp_path):
    out = tmp_path / "run"
    parent = start_cli("run", str(write(tmp_path, TINY)), "--out", str(out), "--quiet")
    try:
        assert wait_for(lambda: (out / "splits" / "synthetic.json").exists())
        assert wait_for(lambda: len(processes_with(str(out))) > 1, 10)   # workers started
        parent.kill()
        parent.wait()
        before = sorted(os.listdir(out / "trials")) if (out / "trials").exists() else []
        assert wait_for(lambda: not processes_with(str(out)), 5), \
            "orphan workers outlived their parent"
        after = sorted(os.listdir(out / "trials")) if (out / "trials").exists() else []
        assert after == before
    finally:
        for pid in processes_with(str(out)):
            os.kill(pid, signal.SIGKILL)


def test_ctrl_c_while_workers_start_is_one_line(tmp_path):
    out = tmp_path / "run"
    run = start_cli("run", str(write(tmp_path, TINY)), "--out", str(out), "--quiet",
                    start_new_session=True)
    assert wait_for(lambda: (out / "splits" / "synthetic.json").exists())
    os.killpg(run.pid, signal.SIGINT)                         # what a terminal's Ctrl-C does
    code, err = run.wait(60), run.stderr.read()
    assert code == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines() == [
        "recsys-bench: interrupted; rerun the same command to resume"]
    for log in (out / "logs").glob("*.log"):
        assert "Traceback" not in log.read_text()


def test_sighup_stops_a_run_like_ctrl_c(tmp_path):
    out = tmp_path / "run"
    run = start_cli("run", str(write(tmp_path, TINY)), "--out", str(out), "--quiet",
                    "--workers", "1")
    assert wait_for(lambda: any((out / "logs").glob("worker-*.log")))
    run.send_signal(signal.SIGHUP)
    code, err = run.wait(60), run.stderr.read()
    assert code == 130 and "interrupted" in err, err
    assert read_run_info(out)["status"] == "interrupted"
    assert wait_for(lambda: not processes_with(str(out)), 5)
    assert not (out / LOCK_NAME).exists()


# --------------------------------------------------------------------------- 3. OS errors

def test_out_through_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    code, err = run_main(capsys, "run", write(tmp_path, TINY), "--out", tmp_path / "file" / "sub")
    assert code == 2 and len(err) == 1
    assert f"{tmp_path / 'file'}" in err[0] and "Not a directory" in err[0]


def test_out_on_a_read_only_or_forbidden_place_is_one_line(tmp_path, capsys):
    target = Path("/sys/recsys-bench-test")
    if target.parent.is_dir() and os.access(target.parent, os.W_OK) and not target.exists():
        try:
            target.mkdir()
        except OSError:
            pass
        else:
            target.rmdir()
            pytest.skip("/sys is writable here")
    code, err = run_main(capsys, "run", write(tmp_path, TINY), "--out", target)
    assert code == 2 and len(err) == 1 and str(target) in err[0], err


def test_os_error_lines_name_the_path_and_what_to_do():
    import errno

    line = os_error_line(OSError(errno.ENOSPC, "No space left on device", "/x/results.csv"))
    assert line.startswith("/x/results.csv: No space left on device; free some space")
    assert "read-only" in os_error_line(OSError(errno.EROFS, "Read-only file system", "/x"))
    assert os_error_line(OSError(errno.EBADF, "Bad file descriptor")) is None


def _mount_tmpfs(folder: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def test_a_disk_filling_up_mid_run_stops_with_one_line_and_resumes_cleanly(tmp_path):
    """Fault injection: the run folder on a 200 KB tmpfs, which fills while trials run."""
    mount = tmp_path / "small"
    _mount_tmpfs(mount, "200k")
    try:
        out = mount / "run"
        run = start_cli("run", str(write(tmp_path, TINY)), "--out", str(out), "--quiet")
        code, err = run.wait(120), run.stderr.read().strip().splitlines()
        assert code == 2 and len(err) == 1, err
        assert "No space left on device; free some space" in err[0] and str(out) in err[0]
        assert not list(out.rglob(".*.tmp"))                  # nothing half-written
        for trial in (out / "trials").glob("*.parquet"):
            assert (read_results(out)["trial_id"] == trial.stem).any()
        subprocess.run(["mount", "-o", "remount,size=16m", str(mount)], check=True)
        rerun = start_cli("run", str(write(tmp_path, TINY)), "--out", str(out), "--quiet")
        assert rerun.wait(120) == 0, rerun.stderr.read()
        df = read_results(out)
        assert df["trial_id"].nunique() == 3 and (df["status"] == "ok").all()
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


# --------------------------------------------------------------------------- 3. corrupt files

def damage(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def test_a_corrupt_results_parquet_is_one_line_for_report_and_compare(copy, capsys):
    damage(copy / "results.parquet")
    for argv in (("report", copy), ("compare", copy, copy)):
        code, err = run_main(capsys, *argv)
        assert code == 2 and len(err) == 1, err
        assert f"{copy / 'results.parquet'}: unreadable or corrupt" in err[0]


def test_a_folder_with_only_a_bad_results_csv_is_one_line(tmp_path, capsys):
    (tmp_path / "results.csv").write_bytes(b'dataset,model\n"unterminated,\x00')
    code, err = run_main(capsys, "report", tmp_path)
    assert code == 2 and len(err) == 1 and "results.csv: unreadable or corrupt" in err[0], err


def test_corrupt_trial_files_are_quarantined_and_rerun_on_resume(copy, capsys):
    trial = min((copy / "trials").glob("*.parquet"))
    damage(trial)
    damaged = trial.read_bytes()
    runner.run(copy / "config.toml", copy, executor="inline")
    err = capsys.readouterr().err
    moved = copy / "quarantine" / "trials" / trial.name
    assert moved.read_bytes() == damaged                      # kept, not deleted
    assert f"warning: {trial}:" in err and "the trial runs again" in err
    assert read_run_info(copy)["sessions"][-1]["trials_run"] == 1
    assert (read_results(copy)["trial_id"] == trial.stem).any()  # rerun and stored again


def test_a_truncated_run_json_on_resume_is_one_line(copy, capsys):
    damage(copy / "run.json")
    code, err = run_main(capsys, "run", copy / "config.toml", "--out", copy, "--executor",
                         "inline", "--quiet")
    assert code == 2 and len(err) == 1 and f"{copy / 'run.json'}: unreadable" in err[0], err


def test_a_corrupt_split_description_is_one_line(copy, capsys):
    damage(copy / "splits" / "synthetic.json")
    code, err = run_main(capsys, "run", copy / "config.toml", "--out", copy, "--executor",
                         "inline", "--quiet")
    assert code == 2 and len(err) == 1 and "synthetic.json: unreadable" in err[0], err


def test_corrupt_raw_and_model_files_are_one_line(copy, capsys):
    trial_id = min(p.stem for p in (copy / "raw").glob("*.npz"))
    damage(copy / "raw" / f"{trial_id}.npz")
    with pytest.raises(CorruptFile, match=f"{trial_id}.npz: unreadable or corrupt"):
        read_raw(copy, trial_id)
    model = max((copy / "models").glob("*.npz"))
    damage(model)
    code, err = run_main(capsys, "similar", "--run", copy, "--model", "implicit-als",
                         "--item", "0")
    assert code == 2 and len(err) == 1 and f"{model}: unreadable or corrupt" in err[0], err


def test_a_held_search_folder_is_refused(tmp_path):
    pytest.importorskip("optuna")
    from test_search import write_config
    from test_similarity import write_topic_likes

    from recsys_bench.experiment import search

    write_topic_likes(tmp_path)
    config = write_config(tmp_path / "search.toml", tmp_path)
    with RunLock(tmp_path / "out", "search"):
        with pytest.raises(UserError, match=rf"another search is using this folder \(pid "
                                            rf"{os.getpid()}, "):
            search.run_search(config, tmp_path / "out", 2)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_search_that_fails_to_load_its_data_leaves_nothing(tmp_path, capsys):
    pytest.importorskip("optuna")
    from test_search import write_config

    config = write_config(tmp_path / "search.toml", tmp_path / "missing")
    out = tmp_path / "out"
    code, err = run_main(capsys, "search", config, "--trials", 2, "--out", out, "--quiet")
    assert code == 2 and len(err) == 1 and "missing" in err[0], err
    assert not out.exists()


def test_a_corrupt_search_database_is_one_line(tmp_path):
    pytest.importorskip("optuna")
    from recsys_bench.experiment import search

    (tmp_path / "search.db").write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(CorruptFile, match="search.db: unreadable or corrupt .*not a "
                                          "database.*move it aside"):
        search._storage(tmp_path)


# --------------------------------------------------------------------------- 4. input files

def test_a_movielens_id_beyond_int64_is_one_line(tmp_path, capsys):
    folder = Path(shutil.copytree(ROOT / "tests" / "fixtures" / "ml-100k-tiny", tmp_path / "ml"))
    text = (folder / "u.data").read_text().splitlines()
    text[2] = "99999999999999999999" + text[2][text[2].index("\t"):]
    (folder / "u.data").write_text("\n".join(text) + "\n")
    code, err = run_main(capsys, "datasets", "stats", "movielens-100k", "--path", folder)
    assert code == 2 and err == [f"recsys-bench: error: {folder / 'u.data'}:3: a number beyond "
                                 f"the 64-bit integer range in {text[2]!r}"]


def test_a_likes_file_cut_inside_its_last_record_is_refused(tmp_path):
    from recsys_bench.datasets import sketchfab, sketchfab_synthetic

    sketchfab_synthetic.write(tmp_path, 0, scale=0.02)
    likes = tmp_path / sketchfab.LIKES_FILE
    data = likes.read_bytes()
    likes.write_bytes(data[:-5])                             # inside the last uid
    lines = data[:-5].count(b"\n") + 1
    with pytest.raises(UserError, match=rf"{sketchfab.LIKES_FILE}:{lines}: the last record has "
                                        "no line end"):
        sketchfab.load(tmp_path)


def test_a_field_over_the_limit_without_quoting_says_so(tmp_path):
    import csv

    from recsys_bench.datasets import sketchfab

    likes = tmp_path / sketchfab.LIKES_FILE
    long = "x" * (csv.field_size_limit() + 10)
    likes.write_bytes(f"modelname|mid|uid\r\na|b|c\r\n{long}|m|u\r\n".encode())
    with pytest.raises(UserError) as info:
        sketchfab.load(tmp_path)
    message = str(info.value)
    assert f"{likes}:3:" in message and "longer than the reader's limit" in message
    assert "quote" not in message


def test_a_truncated_movielens_cache_is_refused(tmp_path, monkeypatch):
    from recsys_bench.datasets import movielens

    monkeypatch.setattr(movielens, "data_dir", lambda: tmp_path, raising=False)
    monkeypatch.setattr(movielens, "cache_dir", lambda: tmp_path / "movielens-100k")
    raw = movielens.read_grouplens_folder(ROOT / "tests" / "fixtures" / "ml-100k-tiny")
    movielens._write_cache(raw, movielens.cache_dir())
    assert movielens.read_cache(movielens.cache_dir()).ratings.shape == raw.ratings.shape
    ratings = movielens.cache_dir() / "ratings.tsv"
    lines = ratings.read_text().splitlines(keepends=True)
    ratings.write_text("".join(lines[:len(lines) // 4 + 1]))
    with pytest.raises(UserError, match="truncated or altered cache file.*delete the cache"):
        movielens.read_cache(movielens.cache_dir())
    (movielens.cache_dir() / "MANIFEST.json").unlink()        # a cache from before manifests
    with pytest.raises(UserError, match="expected 100,000"):
        movielens.read_cache(movielens.cache_dir())


def test_a_nul_byte_in_a_name_is_refused(tmp_path, capsys):
    bad = TINY.replace('name = "tiny"', 'name = "ti\\u0000ny"')
    code, err = run_main(capsys, "run", write(tmp_path, bad), "--out", tmp_path / "run")
    assert code == 2 and len(err) == 1 and "control characters" in err[0]
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- 5. the start

def test_a_failed_load_leaves_nothing_and_names_the_config(tmp_path, capsys):
    config = write(tmp_path, TINY.replace('name = "synthetic"\noptions = { n_users = 300, '
                                          'n_items = 100, nnz = 4000, seed = 0 }',
                                          f'name = "sketchfab"\noptions = {{ path = '
                                          f'"{tmp_path / "missing"}" }}'))
    out = tmp_path / "run"
    code, err = run_main(capsys, "run", config, "--out", out, "--quiet")
    assert code == 2 and len(err) == 1 and str(config) in err[0], err
    assert not out.exists()
    out.mkdir()                                               # an empty folder stays empty
    code, err = run_main(capsys, "run", config, "--out", out, "--quiet")
    assert code == 2 and list(out.iterdir()) == []


def test_a_failed_split_leaves_nothing_and_the_fixed_config_runs_into_the_same_folder(
        tmp_path, capsys):
    config = write(tmp_path, TINY.replace("seeds = [0]\noptions = { split_count = 5, "
                                          "fraction = 0.2 }",
                                          'kind = "temporal"\nseeds = [0]\noptions = { k = 1 }'))
    out = tmp_path / "run"
    code, err = run_main(capsys, "run", config, "--out", out, "--quiet")
    assert code == 2 and len(err) == 1 and str(config) in err[0], err
    assert "needs interaction timestamps" in err[0]
    assert not out.exists()
    config.write_text(TINY)
    code, err = run_main(capsys, "run", config, "--out", out, "--quiet", "--executor", "inline")
    assert code == 0, err


@pytest.mark.parametrize("change, words", [
    (("k = 5", "k = 500"), "k=500 is larger than the number of items (100)"),
    (('name = "popularity"', 'name = "ease"\nparams = { max_memory_gb = 1e-9 }'),
     "max_memory_gb"),
])
def test_trials_bound_to_fail_stop_the_run_before_it_starts(tmp_path, capsys, change, words):
    config = write(tmp_path, TINY.replace(*change))
    out = tmp_path / "run"
    code, err = run_main(capsys, "run", config, "--out", out, "--quiet")
    assert code == 2 and len(err) == 1 and words in err[0] and str(config) in err[0], err
    assert not out.exists()


def test_exit_status_is_1_when_no_trial_succeeded(tmp_path, capsys, monkeypatch):
    from recsys_bench.models.baselines import Popularity

    def broken(self, *args, **kwargs):
        raise RuntimeError("broken")

    monkeypatch.setattr(Popularity, "fit", broken)
    config = write(tmp_path, TINY.split("[[models]]\nname = \"implicit-als\"")[0])
    code, err = run_main(capsys, "run", config, "--out", tmp_path / "run", "--quiet",
                         "--executor", "inline")
    assert code == 1 and err[-1].startswith("recsys-bench: error: no trial succeeded"), err


def test_changed_source_data_is_refused_on_resume_even_without_splits(tmp_path, capsys):
    from recsys_bench.datasets import sketchfab, sketchfab_synthetic

    data = tmp_path / "data"
    sketchfab_synthetic.write(data, 0, scale=0.02)
    config = write(tmp_path, TINY.split("[[models]]\nname = \"implicit-als\"")[0].replace(
        'name = "synthetic"\noptions = { n_users = 300, n_items = 100, nnz = 4000, seed = 0 }',
        f'name = "sketchfab"\noptions = {{ path = "{data}" }}'))
    out = tmp_path / "run"
    assert run_main(capsys, "run", config, "--out", out, "--quiet", "--executor", "inline")[0] == 0
    likes = data / sketchfab.LIKES_FILE
    lines = likes.read_bytes().split(b"\r\n")
    likes.write_bytes(b"\r\n".join(lines[:1] + lines[40:]))
    for _ in range(2):
        code, err = run_main(capsys, "run", config, "--out", out, "--quiet", "--executor",
                             "inline")
        assert code == 2 and len(err) == 1, err
        assert "the data of dataset 'sketchfab' changed since this run started" in err[0]
        shutil.rmtree(out / "splits", ignore_errors=True)     # the second time: no splits kept
    assert read_results(out)["split_fingerprint"].nunique() == 1


# --------------------------------------------------------------------------- 6. signals

def test_deferred_signals_hold_an_interrupt_until_the_block_ends():
    finished = []
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with pytest.raises(KeyboardInterrupt), guard.deferred_signals():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_during_the_study_tell_does_not_interrupt_the_write(monkeypatch):
    """The search's Ctrl-C race: the interrupt arrives while the study is told an outcome."""
    pytest.importorskip("optuna")
    from types import SimpleNamespace

    from recsys_bench.experiment import search
    from recsys_bench.experiment.executors import Done

    told = []

    class Study:
        def ask(self):
            return SimpleNamespace(number=0, _trial_id=0, set_user_attr=lambda *a: None)

        def tell(self, trial, value=None, state=None, skip_if_finished=False):
            if not told:
                os.kill(os.getpid(), signal.SIGINT)           # lands inside the write
                time.sleep(0.05)
            told.append(state if value is None else value)

    class Pool:
        def start(self, task):
            self.key = task.trial_id

        def wait(self, timeout):
            return [Done(self.key, result=("complete", 0.5, {}))]

        def close(self):
            pass

    config = SimpleNamespace(search=SimpleNamespace(threads=1, timeout_s=None, space=[],
                                                    setting=lambda values: {}))
    monkeypatch.setattr("recsys_bench.threads.resolve_threads", lambda threads: 1)
    with pytest.raises(KeyboardInterrupt):
        search._run_trials(Study(), config, Path("."), Pool(), 2, 1)
    assert told == [0.5]                                      # told completely, then stopped
