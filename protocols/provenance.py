"""Provenance of a run: protocol.yaml and protocol.json (hash, versions, machine, commit, grid)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import yaml

from tacfn.core import store
from tacfn.core.io import write_text
from tacfn_robust.protocols.datasets import load_dataset
from tacfn_robust.protocols.grid import conditions_hash
from tacfn_robust.protocols.loading import protocol_hash
from tacfn_robust.protocols.planning import Plan
from tacfn_robust.protocols.rerun_policy import recorded

VERSIONED = ("torch", "torchaudio", "numpy", "pandas", "scipy", "pydantic", "dask")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["tacfn-robust"] = metadata.version("tacfn-robust")
    return out


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def write_protocol_files(p: Plan) -> dict[str, Any]:
    """protocol.yaml (validated, defaults filled) and protocol.json (plus hash, versions, grid)."""
    data = p.protocol.model_dump(mode="json")
    digest = protocol_hash(p.protocol)
    previous = recorded(p.run_dir / store.PROTOCOL_FILE) or {}
    created = previous.get("created") if previous.get("hash") == digest else None
    record = {
        "name": p.protocol.name,
        "description": p.protocol.description,
        "hash": digest,
        "protocol": data,
        "versions": _versions(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cores": os.cpu_count(),
            "torch_threads": p.protocol.executor.threads,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "git_commit": _git_commit(),
        "created": created or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cells": [
            {"key": p.keys[c], "model": c.model, "regime": c.regime, "seed": c.seed, "fold": c.fold}
            for c in p.cells
        ],
        "conditions": [c.id for c in p.conditions],
        "conditions_hash": conditions_hash(p.protocol),
        "skipped": list(load_dataset(p.protocol.dataset).skipped),
    }
    write_text(p.run_dir / store.PROTOCOL_YAML, yaml.safe_dump(data, sort_keys=False))
    store.write_json(p.run_dir / store.PROTOCOL_FILE, record)
    return record
