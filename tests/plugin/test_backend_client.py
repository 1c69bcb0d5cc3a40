"""The backend client against the real backend interpreter: results, errors, cancel, broken set-ups."""

import importlib

import pytest
from conftest import REPO, REPO_BACKEND_PYTHON, plugin_package, wait_until


@pytest.fixture
def client_module(qgis_app):
    plugin_package()
    return importlib.import_module("s1ricemapper.plugin.backend_client")


@pytest.fixture
def real_client(client_module, backend_python_setting):
    return client_module.BackendClient(REPO_BACKEND_PYTHON, cwd=REPO)


def test_version_result_is_parsed(real_client):
    versions = real_client.call("version", timeout_s=60)
    assert versions["torch"] and versions["onnxruntime"]
    assert set(versions["gpu"]) >= {"available", "name"}


def test_user_error_event_carries_message_and_exit_code(real_client, client_module):
    with pytest.raises(client_module.BackendError) as caught:
        real_client.call("no-such-verb", timeout_s=60)
    failure = caught.value.failure
    assert failure.kind == "UserError" and failure.exit_code == 2
    assert "no-such-verb" in failure.message
    assert "no-such-verb" in failure.details()  # the command line is in the report


def test_missing_interpreter_fails_without_starting(client_module, tmp_path):
    client = client_module.BackendClient(tmp_path / "nowhere" / "python", cwd=REPO)
    with pytest.raises(client_module.BackendError) as caught:
        client.call("version", timeout_s=10)
    assert caught.value.failure.kind == "NotStarted"
    assert "does not exist" in caught.value.failure.message


def test_broken_interpreter_reports_stderr(client_module, broken_backend_python):
    client = client_module.BackendClient(broken_backend_python, cwd=REPO)
    with pytest.raises(client_module.BackendError) as caught:
        client.call("version", timeout_s=10)
    failure = caught.value.failure
    assert failure.exit_code == 1
    assert "incomplete" in failure.message and "No module named torch" in "\n".join(failure.stderr_tail)


def test_cancel_stops_the_process(real_client):
    run = real_client.run("version")
    outcome = []
    run.failed.connect(outcome.append)
    run.result.connect(outcome.append)
    run.start()
    assert wait_until(lambda: run.process.processId() > 0, 10)
    run.cancel()
    assert run.wait(20)
    assert len(outcome) == 1 and getattr(outcome[0], "cancelled", False)


def test_task_wrapper_follows_the_run(real_client, client_module):
    from qgis.core import QgsApplication

    run = real_client.run("version")
    results = []
    run.result.connect(results.append)
    task = client_module.BackendTask("check", run)
    completed = []
    task.taskCompleted.connect(lambda: completed.append(True))
    QgsApplication.taskManager().addTask(task)
    run.start()
    assert wait_until(lambda: completed, 60)
    assert results and "torch" in results[0]


def test_killed_process_is_reported_as_crash(real_client):
    import os
    import signal

    run = real_client.run("version")
    failures = []
    run.failed.connect(failures.append)
    run.start()
    assert wait_until(lambda: run.process.processId() > 0, 10)
    os.kill(run.process.processId(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    assert run.wait(20)
    assert failures and failures[0].kind == "Crashed"
    assert "memory" in failures[0].message and "version" in failures[0].details()
