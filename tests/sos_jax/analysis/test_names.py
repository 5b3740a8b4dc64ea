import json

import pytest

from sos_jax.analysis.names import NameMap, join_report, load_name_map, name_key
from sos_jax.analysis.report import ANCHOR_NAME_MAP


def test_name_key_ignores_case_and_punctuation():
    assert name_key("Llama-3-8B Ultrachat (princeton)") == name_key("llama_3_8b_ultrachat_princeton")


def test_yaml_json_csv_maps_agree(tmp_path):
    (tmp_path / "m.yaml").write_text("Base: [base-model, BASE_v1]\nother-alias: Other\n")
    (tmp_path / "m.json").write_text(json.dumps({"Base": ["base-model", "BASE_v1"], "other-alias": "Other"}))
    (tmp_path / "m.csv").write_text("alias,canonical\nbase-model,Base\nBASE_v1,Base\nother-alias,Other\n")
    for ext in ("yaml", "json", "csv"):
        nm = load_name_map(tmp_path / f"m.{ext}")
        assert nm.canonical("base-model") == "Base"
        assert nm.canonical("base_v1") == "Base"  # spelling-insensitive
        assert nm.canonical("Other-Alias") == "Other"
        assert nm.canonical("unknown") == "unknown"


def test_bad_maps_name_the_file_and_column(tmp_path):
    (tmp_path / "bad.csv").write_text("from,to\na,b\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*alias"):
        load_name_map(tmp_path / "bad.csv")
    (tmp_path / "clash.yaml").write_text("A: [x]\nB: [X]\n")
    with pytest.raises(ValueError, match=r"clash\.yaml.*both"):
        load_name_map(tmp_path / "clash.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping"):
        load_name_map(tmp_path / "list.yaml")


def test_join_report_lists_every_unmatched_name():
    nm = NameMap({"big-model": "Big"})
    rep = join_report(("results", ["Big", "Small", "Lonely"]), [("lb", ["big-model", "SMALL", "Stranger"])], nm)
    assert rep.joined == ["Big", "Small"]
    assert rep.unmatched == {"lb": ["Stranger"], "results": ["Lonely"]}


def test_anchor_name_map_joins_published_tables(anchors):
    from sos_jax.analysis.ingest import read_leaderboard, read_results

    nm = load_name_map(ANCHOR_NAME_MAP)
    models = [r.model for r in read_results(anchors / "eleuther_wandb.csv")]
    ah = read_leaderboard(anchors / "arena_hard_auto.csv")
    rep = join_report(("eleuther", models), [("arena_hard", ah.models)], nm)
    assert len(rep.joined) == 31
    assert rep.unmatched["arena_hard"] == sorted(
        ["Llama-3-8B-Tulu2", "Llama-3-8B-Tulu2-DPO", "Llama-3-8B-lima", "gpt-4-0314", "gpt-4-turbo-2024-04-09"])
    assert nm.canonical("llama-3-base-8b-sft-dpo") == "Llama-3-8B-Ultrachat-DPO"
