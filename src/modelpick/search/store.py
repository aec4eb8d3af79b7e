"""The search's record, in an Optuna study (RDB storage: a SQLite file by default, any
SQLAlchemy URL such as PostgreSQL for several workers on several machines).

Each *job* — one candidate trained through one rung — is one Optuna trial with the params
`candidate` and `rung`. A worker publishes the job the ladder chooses with `enqueue_trial`
and claims the oldest waiting one with `ask()` (Optuna pops a waiting trial atomically, which
is its documented distributed mode). Finished jobs are COMPLETE with the rung's metric as
value and the details as user attributes; a job that failed for a reason of its own (out of
memory, a diverging loss) is FAIL with `outcome: failed`; a job whose worker died or was
interrupted is FAIL without an outcome, or goes stale (heartbeats), and is run again. The
search's configuration is the study's user attributes, so any worker, `--resume` and
`modelpick report STORE` rebuild the whole state from the store alone.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

from ..errors import InputError
from .schedule import Job, Ladder, Outcome, Plan

SCHEMA = "modelpick.trial/1"
HEARTBEAT_S = 10
GRACE_S = 60


def store_url(store: str | Path) -> str:
    """A SQLAlchemy URL; a plain path means a SQLite file."""
    text = str(store)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def _optuna():
    try:
        import optuna
    except ImportError:
        from ..errors import UnavailableError

        raise UnavailableError(
            "trial needs optuna, which is not installed; install it via "
            "`pip install 'modelpick[trial]'`"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Heartbeats with ask/tell (not Study.optimize) are how a worker that dies is noticed;
    # Optuna marks them experimental and says so on every call: not news for our users.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
    return optuna


def _engine_kwargs(url: str) -> dict:
    # libpq waits as long as TCP does (minutes) for a host that drops packets: give up in 10 s
    return {"connect_args": {"connect_timeout": 10}} if url.startswith("postgres") else {}


def _storage(url: str, create: bool = True, flag: str = "--store "):
    """Optuna's RDB storage at `url`. A database that holds other tables is refused before
    Optuna writes its schema into it; with `create` False, an empty one is refused too."""
    optuna = _optuna()
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url, **_engine_kwargs(url))
        try:
            tables = set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except ImportError as exc:
        raise InputError(
            f"{flag}{url}: cannot open it: its database driver ({exc.name}) is not installed "
            "(`pip install 'modelpick[trial]'` brings psycopg for PostgreSQL)"
        ) from None
    except Exception as exc:  # a bad URL, a file that is no database, a server that is down
        raise InputError(
            f"{flag}{url}: cannot open it as an Optuna store ({_first(exc)})"
        ) from None
    if tables and not {"studies", "version_info"} <= tables:
        raise InputError(
            f"{flag}{url}: not an Optuna store (a database with other tables; left as is)"
        )
    if not tables and not create:
        raise InputError(f"{flag}{url}: holds no modelpick trial search (an empty database)")
    try:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=_engine_kwargs(url),
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
        )
    except Exception as exc:  # another schema version, a read-only file
        raise InputError(
            f"{flag}{url}: cannot open it as an Optuna store ({_first(exc)})"
        ) from None


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


class Store:
    """One search in one study."""

    def __init__(self, study):
        self.study = study
        self.config: dict = dict(study.user_attrs.get("config") or {})
        self._beat: threading.Event | None = None

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, name: str, config: dict, resume: bool) -> Store:
        """Open the study `name` at `url`: a new search, or (resume) the stored one, whose
        configuration must be the same search (same candidates, budget, data)."""
        optuna = _optuna()
        storage = _storage(url, create=not resume)
        names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
        if name in names:
            study = optuna.load_study(study_name=name, storage=storage)
            stored = study.user_attrs.get("config")
            if not resume:
                raise InputError(
                    f"--store {url}: already holds the search {name!r}; pass --resume to go "
                    "on with it, or give another --store"
                )
            if not isinstance(stored, dict) or stored.get("schema") != SCHEMA:
                raise InputError(f"--store {url}: study {name!r} is not a modelpick trial")
            if stored.get("key") != config.get("key"):
                raise InputError(
                    f"--store {url}: the stored search {name!r} was made for other candidates, "
                    "data or budget; resume it with the same arguments, or give another --store"
                )
            return cls(study)
        if resume:
            raise InputError(f"--store {url}: no search {name!r} to resume")
        direction = "maximize" if config["maximize"] else "minimize"
        study = optuna.create_study(storage=storage, study_name=name, direction=direction)
        study.set_user_attr("config", config)
        return cls(study)

    @classmethod
    def open_existing(cls, url: str) -> list[Store]:
        """Every modelpick search in a store (for `report`), oldest first."""
        optuna = _optuna()
        storage = _storage(url, create=False, flag="")
        out = []
        for summary in optuna.get_all_study_summaries(storage):
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            config = study.user_attrs.get("config")
            if isinstance(config, dict) and config.get("schema") == SCHEMA:
                out.append(cls(study))
        if not out:
            raise InputError(f"{url}: holds no modelpick trial search")
        return out

    # --- state -----------------------------------------------------------------------------
    def plan(self) -> Plan:
        return Plan(int(self.config["eta"]), tuple(float(r) for r in self.config["rungs_s"]))

    def jobs(self) -> list:
        """The job trials (frozen), oldest first, without spurious or duplicate ones."""
        optuna = _optuna()
        with_fail = optuna.trial.TrialState
        out = []
        for t in self.study.get_trials(deepcopy=False):
            if t.user_attrs.get("job") != 1 or t.user_attrs.get("duplicate"):
                continue
            if t.state == with_fail.WAITING:
                continue
            out.append(t)
        return out

    def ladder(self) -> Ladder:
        """The ASHA state as the store has it: finished jobs, and jobs running elsewhere."""
        optuna = _optuna()
        optuna.storages.fail_stale_trials(self.study)
        states = optuna.trial.TrialState
        ladder = Ladder(
            [c["name"] for c in self.config["candidates"]], self.plan(), self.config["maximize"]
        )
        for t in self.jobs():
            job = Job(t.params["candidate"], int(t.params["rung"]))
            if t.state == states.COMPLETE:
                ladder.record(Outcome(job.candidate, job.rung, t.value))
            elif t.state == states.FAIL and t.user_attrs.get("outcome") == "failed":
                ladder.record(Outcome(job.candidate, job.rung, None, "failed"))
            elif t.state == states.RUNNING:
                ladder.start(job)
        return ladder

    def records(self) -> list[dict]:
        """Every finished job's record (user attributes plus candidate, rung, value, state)."""
        states = _optuna().trial.TrialState
        out = []
        for t in self.jobs():
            if t.state == states.COMPLETE or (
                t.state == states.FAIL and t.user_attrs.get("outcome") == "failed"
            ):
                out.append(
                    {
                        **{k: v for k, v in t.user_attrs.items() if k != "job"},
                        "candidate": t.params["candidate"],
                        "rung": int(t.params["rung"]),
                        "value": t.value,
                        "state": t.state.name.lower(),
                        "number": t.number,
                    }
                )
        return out

    # --- claiming and finishing jobs --------------------------------------------------------
    def claim(self, job: Job):
        """Publish `job` and take the oldest waiting job (maybe another worker's). Returns
        (trial, Job) or None when what was popped is not runnable (taken twice: the later
        claim stands down)."""
        optuna = _optuna()
        names = [c["name"] for c in self.config["candidates"]]
        self.study.enqueue_trial(
            {"candidate": job.candidate, "rung": job.rung}, user_attrs={"job": 1}
        )
        trial = self.study.ask()
        if trial.user_attrs.get("job") != 1:  # nothing was waiting any more: not a job
            trial.set_user_attr("spurious", True)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return None
        got = Job(
            trial.suggest_categorical("candidate", names),
            trial.suggest_int("rung", 0, len(self.config["rungs_s"]) - 1),
        )
        states = optuna.trial.TrialState
        for t in self.study.get_trials(deepcopy=False):
            if t.number >= trial.number or t.user_attrs.get("job") != 1:
                continue
            same = t.params.get("candidate") == got.candidate and t.params.get("rung") == got.rung
            done_or_running = t.state in (states.RUNNING, states.COMPLETE) or (
                t.state == states.FAIL and t.user_attrs.get("outcome") == "failed"
            )
            if same and done_or_running:
                trial.set_user_attr("duplicate", True)
                self.study.tell(trial, state=states.FAIL)
                return None
        self._heartbeat(trial)
        return trial, got

    def _heartbeat(self, trial) -> None:
        storage = self.study._storage
        stop = threading.Event()
        self._beat = stop

        def beat():
            while not stop.wait(HEARTBEAT_S):
                try:
                    storage.record_heartbeat(trial._trial_id)
                except Exception:  # the store went away: the job's end will say so
                    return

        storage.record_heartbeat(trial._trial_id)
        threading.Thread(target=beat, daemon=True).start()

    def _stop_beat(self) -> None:
        if self._beat is not None:
            self._beat.set()
            self._beat = None

    def finish(self, trial, value: float | None, attrs: dict[str, Any], failed: str = "") -> None:
        optuna = _optuna()
        self._stop_beat()
        for key, val in attrs.items():
            trial.set_user_attr(key, val)
        if failed:
            trial.set_user_attr("outcome", "failed")
            trial.set_user_attr("reason", failed)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)

    def abandon(self, trial, why: str) -> None:
        """The job did not finish (interrupted): it will be run again on resume."""
        optuna = _optuna()
        self._stop_beat()
        try:
            trial.set_user_attr("abandoned", why)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except Exception:
            pass

    def add_spent(self, seconds: float) -> None:
        spent = float(self.study.user_attrs.get("spent_s", 0.0))
        self.study.set_user_attr("spent_s", spent + seconds)

    @property
    def spent_s(self) -> float:
        return float(self.study.user_attrs.get("spent_s", 0.0))

    def set_baseline(self, name: str, record: dict) -> None:
        self.study.set_user_attr(f"baseline:{name}", record)

    def baselines(self) -> dict[str, dict]:
        return {
            k.split(":", 1)[1]: v
            for k, v in self.study.user_attrs.items()
            if k.startswith("baseline:") and isinstance(v, dict)
        }
