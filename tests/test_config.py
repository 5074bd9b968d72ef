import os
import re
import stat

import pytest

from tapetui.engine import config
from tapetui.engine.errors import ConfigError


def write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_missing_file_gives_defaults(tmp_path):
    cfg = config.load(tmp_path / "nope.toml")
    assert cfg.tape.driver == "sim"
    assert cfg.backup.hash == "sha256"
    assert cfg.scheduler.missed_policy == "run_once"


def test_values_are_read_and_sizes_parsed(tmp_path):
    p = write(tmp_path / "c.toml", '[tape]\ndriver = "ltfs"\n[sim]\ncapacity_bytes = "64MiB"\nslots = 4\n')
    cfg = config.load(p)
    assert cfg.tape.driver == "ltfs"
    assert cfg.sim.capacity_bytes == 64 * 1024 * 1024
    assert cfg.sim.slots == 4


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[tape]\ndriverr = "sim"\n', "unknown key 'driverr' in [tape]; allowed: driver, month_check"),
        ('[tapes]\n', "unknown section [tapes]"),
        ('[tape]\ndriver = "floppy"\n', "bad value 'floppy' for tape.driver; allowed: one of 'sim', 'ltfs', 'ltfs-windows'"),
        ('[backup]\nreaders = "four"\n', "bad value 'four' for backup.readers; allowed: a whole number"),
        ('[backup]\nreaders = -1\n', "(not negative)"),
        ('[sim]\ncapacity_bytes = "lots"\n', "or a size such as '64MiB'"),
        ('[tape\n', "not valid TOML"),
    ],
)
def test_errors_name_file_key_and_allowed(tmp_path, text, expected):
    p = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert str(p) in str(e.value)
    assert expected in str(e.value)


def test_secrets_refused_when_readable_by_others_and_never_echoed(tmp_path):
    p = write(tmp_path / "c.toml", '[notify]\ndingtalk_secret = "SECabc123"\n', mode=0o644)
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert "chmod 600" in str(e.value)
    assert "SECabc123" not in str(e.value)
    os.chmod(p, 0o600)
    assert config.load(p).notify.dingtalk_secret == "SECabc123"


def test_bad_secret_value_is_hidden(tmp_path):
    p = write(tmp_path / "c.toml", '[notify]\ndingtalk_secret = 12345\n')
    with pytest.raises(ConfigError) as e:
        config.load(p)
    assert "12345" not in str(e.value) and "<hidden>" in str(e.value)


def test_initial_file_is_private_and_loads_to_defaults(tmp_path):
    p = tmp_path / "sub" / "config.toml"
    config.write_initial(p)
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    cfg = config.load(p)
    assert cfg.tape.driver == "sim"
    # every section of the documented defaults is present in the file
    for name in config.SECTIONS:
        assert f"[{name}]" in p.read_text()


@pytest.mark.parametrize("text, value", [("4096", 4096), ("64MiB", 67108864), ("1.5TB", 1_500_000_000_000), ("2 GiB", 2 << 30)])
def test_parse_size(text, value):
    assert config.parse_size(text) == value


def test_rendered_defaults_carry_the_documentation_and_parse_back(tmp_path):
    text = config.render_defaults()
    assert "# Which driver talks to the drive" in text
    assert "# Capacity of new cartridges" in text
    # uncommenting every section and key gives a valid config equal to the defaults
    live = re.sub(r"^# (\w+ = |\[\w+\]$)", r"\1", text, flags=re.M)
    p = write(tmp_path / "c.toml", live)
    cfg = config.load(p)
    assert cfg.sim == config.Config.defaults().sim
    assert cfg.notify.retries == 3


def test_the_generated_file_is_all_comments_so_a_section_can_be_appended(tmp_path):
    """Appending `[retention]` to the file made on first use must not declare the
    table twice (it did: the file had every [section] header uncommented)."""
    p = tmp_path / "config.toml"
    config.write_initial(p)
    assert all(not line or line.startswith("#") for line in p.read_text().splitlines())
    with p.open("a") as fh:
        fh.write("\n[retention]\nset_days = 400\n\n[tape]\nmonth_check = false\n")
    cfg = config.load(p)
    assert cfg.retention.set_days == 400 and cfg.tape.month_check is False
