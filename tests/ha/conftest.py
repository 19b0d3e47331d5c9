from cluster import REPORT


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("HA fault test figures")
        for k, v in REPORT.items():
            terminalreporter.write_line(f"{k}: {v}")
