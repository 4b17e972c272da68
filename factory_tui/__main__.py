from factory_tui.cli import run

run()
