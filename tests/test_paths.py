from pathlib import Path

from tapetui.engine.paths import HOME_ENV, Home


def test_home_flag_wins_over_env(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "env"))
    home = Home.resolve(tmp_path / "flag")
    assert home.db_path == (tmp_path / "flag" / "catalog.db").resolve()
    assert home.config_file.parent == (tmp_path / "flag").resolve()


def test_env_puts_everything_under_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "env"))
    home = Home.resolve(None)
    root = (tmp_path / "env").resolve()
    for p in (home.config_file, home.db_path, home.sim_root, home.log_file):
        assert root in Path(p).parents


def test_default_uses_platform_dirs(monkeypatch):
    monkeypatch.delenv(HOME_ENV, raising=False)
    home = Home.resolve(None)
    assert "tapetui" in str(home.config_dir) and "tapetui" in str(home.data_dir) and "tapetui" in str(home.log_dir)
    assert home.config_dir != home.data_dir or home.data_dir != home.log_dir
