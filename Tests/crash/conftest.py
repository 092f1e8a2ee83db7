# crash_test.py is a standalone program (python3 Tests/crash/crash_test.py), not a pytest module:
# keep pytest from collecting it when run from the repository root.
collect_ignore = ["crash_test.py"]
