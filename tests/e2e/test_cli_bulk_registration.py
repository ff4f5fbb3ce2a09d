"""Bulk registration (StartThingRegistrationTask and its family) through the real AWS CLI, with
input files in a directory the server's configuration allow-lists as a "bucket"."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest

import certs
from conftest import Roost

ROLE = "arn:aws:iam::123456789012:role/BulkRegistration"
BUCKET = "batches"

POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
})

THING_TEMPLATE = json.dumps({
    "Parameters": {"ThingName": {"Type": "String"}, "Serial": {"Type": "String"}},
    "Resources": {
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {
                "ThingName": {"Ref": "ThingName"},
                "AttributePayload": {"serial": {"Ref": "Serial"}},
                "ThingGroups": ["bulk-fleet"],
            },
        },
        "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": POLICY}},
    },
})

CSR_TEMPLATE = json.dumps({
    "Parameters": {"ThingName": {"Type": "String"}, "CSR": {"Type": "String"}},
    "Resources": {
        "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}},
        "certificate": {"Type": "AWS::IoT::Certificate",
                        "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"}},
    },
})

SIMPLE_TEMPLATE = json.dumps({
    "Parameters": {"ThingName": {"Type": "String"}},
    "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}}},
})


@pytest.fixture(scope="module")
def batches(tmp_path_factory) -> Path:
    """The directory that the bucket name `batches` stands for."""
    return tmp_path_factory.mktemp("batches")


@pytest.fixture(scope="module")
def roost(tmp_path_factory, batches):
    """A server whose configuration allow-lists `batches` for bulk registration."""
    base = tmp_path_factory.mktemp("bulk")
    config = base / "roost.toml"
    config.write_text(f'[provisioning.bulk_registration_dirs]\n{BUCKET} = "{batches}"\n')
    server = Roost(base / "data", "bulk", extra_args=["--config", str(config)]).start()
    yield server
    if server.proc is not None:
        assert server.stop() == 0, "roost serve did not exit 0 on SIGTERM:\n" + server.stderr_text()
    failures = server.internal_failures()
    assert not failures, "the server answered with 5xx:\n" + "\n".join(failures)


def write_lines(batches: Path, key: str, lines: list[str]) -> str:
    path = batches / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return key


def start(roost, key: str, template: str = THING_TEMPLATE, bucket: str = BUCKET) -> str:
    return roost.aws(
        "start-thing-registration-task", "--template-body", template,
        "--input-file-bucket", bucket, "--input-file-key", key, "--role-arn", ROLE,
    )["taskId"]


def describe(roost, task_id: str) -> dict:
    return roost.aws("describe-thing-registration-task", "--task-id", task_id)


def wait_until_ended(roost, task_id: str, timeout_s: float = 180) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        task = describe(roost, task_id)
        if task["status"] not in ("InProgress", "Cancelling"):
            return task
        assert time.monotonic() < deadline, f"task still {task['status']} after {timeout_s} s: {task}"
        time.sleep(0.2)


def report(roost, task_id: str, report_type: str) -> list[dict]:
    """The lines of the task's report of `report_type`, read from its file:// link."""
    links = roost.aws("list-thing-registration-task-reports", "--task-id", task_id,
                      "--report-type", report_type)["resourceLinks"]
    lines = []
    for link in links:
        url = urllib.parse.urlparse(link)
        assert url.scheme == "file", link
        lines += [json.loads(line) for line in Path(urllib.parse.unquote(url.path)).read_text().splitlines()]
    return lines


def test_a_file_of_500_lines_registers_its_things_and_reports_each_line(roost, batches):
    roost.aws("create-thing-group", "--thing-group-name", "bulk-fleet")
    lines = [json.dumps({"ThingName": f"bulk-{i:04d}", "Serial": f"SN-{i}"}) for i in range(500)]
    lines[99] = "{not json"
    lines[249] = json.dumps({"Serial": "no thing name"})
    lines[399] = json.dumps({"ThingName": "bad name!", "Serial": "x"})
    key = write_lines(batches, "line-3/batch-1.jsonl", lines)

    task_id = start(roost, key)
    task = wait_until_ended(roost, task_id)
    assert task["status"] == "Completed", task
    assert (task["successCount"], task["failureCount"], task["percentageProgress"]) == (497, 3, 100)
    assert task["inputFileBucket"] == BUCKET
    assert task["inputFileKey"] == key
    assert task["templateBody"] == THING_TEMPLATE
    assert task["roleArn"] == ROLE
    assert task["creationDate"] <= task["lastModifiedDate"]

    thing = roost.aws("describe-thing", "--thing-name", "bulk-0007")
    assert thing["attributes"] == {"serial": "SN-7"}
    members = roost.aws("list-things-in-thing-group", "--thing-group-name", "bulk-fleet")["things"]
    assert len(members) == 497

    results = report(roost, task_id, "RESULTS")
    assert len(results) == 497
    first = results[0]
    assert first["lineNumber"] == 1
    assert first["offset"] == len(lines[0]) + 1
    arns = first["response"]["ResourceArns"]
    assert arns["thing"] == roost.arn("thing", "bulk-0000")
    assert arns["policy"].startswith(roost.arn("policy", ""))
    assert sorted(r["lineNumber"] for r in results) == [
        n for n in range(1, 501) if n not in (100, 250, 400)]

    errors = report(roost, task_id, "ERRORS")
    assert [e["lineNumber"] for e in errors] == [100, 250, 400]
    assert all(e["response"] is None for e in errors)
    assert "JSON" in errors[0]["errorMessage"]
    assert "ThingName" in errors[1]["errorMessage"]
    assert "ResourceRegistrationFailureException" in errors[2]["errorMessage"]
    assert errors[2]["offset"] == sum(len(line) + 1 for line in lines[:400])

    # The reports are beside the input file.
    assert sorted(p.name for p in (batches / "line-3").iterdir()) == sorted(
        ["batch-1.jsonl", f"{task_id}.results.jsonl", f"{task_id}.errors.jsonl"])
    assert task_id in roost.aws("list-thing-registration-tasks", "--status", "Completed")["taskIds"]
    assert task_id not in roost.aws("list-thing-registration-tasks", "--status", "InProgress")["taskIds"]


def test_lines_with_csrs_get_certificates_in_the_results_report(roost, batches, tmp_path):
    lines = []
    for i in range(5):
        csr = certs.csr(tmp_path, f"device-{i}", f"/CN=bulk-csr-{i}", key="ec:" + str(ec_parameters(tmp_path)))
        lines.append(json.dumps({"ThingName": f"bulk-csr-{i}", "CSR": csr.read_text()}))
    key = write_lines(batches, "csr-batch.jsonl", lines)
    task = wait_until_ended(roost, start(roost, key, CSR_TEMPLATE))
    assert (task["status"], task["successCount"], task["failureCount"]) == ("Completed", 5, 0), task
    results = report(roost, task["taskId"], "RESULTS")
    assert len(results) == 5
    for result in results:
        pem = result["response"]["CertificatePem"]
        cert_id = certs.certificate_id(pem)
        assert result["response"]["ResourceArns"]["certificate"] == roost.arn("cert", cert_id)
        described = roost.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]
        assert described["status"] == "ACTIVE"
    thing = "bulk-csr-0"
    principals = roost.aws("list-thing-principals", "--thing-name", thing)["principals"]
    assert principals == [results[0]["response"]["ResourceArns"]["certificate"]]
    assert report(roost, task["taskId"], "ERRORS") == []


def ec_parameters(work: Path) -> Path:
    path = work / "prime256v1.pem"
    if not path.exists():
        certs.openssl("ecparam", "-name", "prime256v1", "-out", path.name, cwd=work)
    return path


def wait_for_progress(roost, task_id: str) -> dict:
    """Polls (with boto3: the CLI is too slow to catch a task mid-run) until the task has
    processed some lines; returns what DescribeThingRegistrationTask said then."""
    iot = roost.client()
    deadline = time.monotonic() + 60
    while True:
        task = iot.describe_thing_registration_task(taskId=task_id)
        if task["successCount"] > 0:
            return task
        assert task["status"] == "InProgress", task
        assert time.monotonic() < deadline, "no progress within 60 s"
        time.sleep(0.01)


def test_progress_is_visible_while_a_task_runs_and_a_stopped_task_ends_cancelled(roost, batches):
    total = 100_000
    key = write_lines(batches, "stop-me.jsonl",
                      [json.dumps({"ThingName": f"stop-{i:06d}"}) for i in range(total)])
    task_id = start(roost, key, SIMPLE_TEMPLATE)
    running = wait_for_progress(roost, task_id)
    assert running["status"] == "InProgress"
    assert 0 <= running["percentageProgress"] < 100
    roost.client().stop_thing_registration_task(taskId=task_id)

    task = wait_until_ended(roost, task_id)
    assert task["status"] == "Cancelled", task
    assert 0 < task["successCount"] < total
    assert task["percentageProgress"] < 100
    assert "StopThingRegistrationTask" in task["message"]
    assert len(report(roost, task_id, "RESULTS")) == task["successCount"]
    assert roost.aws("stop-thing-registration-task", "--task-id", task_id) == {}, "stopping twice is fine"
    assert task_id in roost.aws("list-thing-registration-tasks", "--status", "Cancelled")["taskIds"]


def test_inputs_outside_the_allowed_directories_are_refused(roost, batches):
    key = write_lines(batches, "ok.jsonl", [json.dumps({"ThingName": "never-made"})])
    (batches.parent / "outside.jsonl").write_text(json.dumps({"ThingName": "outside"}) + "\n")
    for bucket, input_key, needle in [
        ("not-configured", key, "inputFileBucket"),
        (BUCKET, "../outside.jsonl", "inputFileKey"),
        (BUCKET, "missing.jsonl", "inputFileKey"),
    ]:
        err = roost.aws_error("start-thing-registration-task", "--template-body", SIMPLE_TEMPLATE,
                              "--input-file-bucket", bucket, "--input-file-key", input_key,
                              "--role-arn", ROLE)
        assert err.code == "InvalidRequestException", (bucket, input_key)
        assert needle in err.message, err.message

    err = roost.aws_error("start-thing-registration-task", "--template-body", "{not json",
                          "--input-file-bucket", BUCKET, "--input-file-key", key, "--role-arn", ROLE)
    assert err.code == "InvalidRequestException"
    assert "templateBody" in err.message
    # The CLI checks the role's length itself; the server checks it too.
    answer = roost.raw("POST", "/thing-registration-tasks", json.dumps({
        "templateBody": SIMPLE_TEMPLATE, "inputFileBucket": BUCKET, "inputFileKey": key,
        "roleArn": "short"}), headers={"Content-Type": "application/json"})
    assert (answer.status, answer.error_type) == (400, "InvalidRequestException"), answer
    assert "roleArn" in answer.message
    assert roost.aws_error("describe-thing-registration-task", "--task-id", "no-such-task").code == \
        "ResourceNotFoundException"
    assert roost.aws_error("describe-thing", "--thing-name", "never-made").code == "ResourceNotFoundException"


def test_a_task_cut_short_by_a_server_stop_is_failed_after_the_restart(roost, batches):
    total = 100_000
    key = write_lines(batches, "cut-short.jsonl",
                      [json.dumps({"ThingName": f"cut-{i:06d}"}) for i in range(total)])
    task_id = start(roost, key, SIMPLE_TEMPLATE)
    wait_for_progress(roost, task_id)

    assert roost.stop() == 0
    roost.start()
    task = describe(roost, task_id)
    assert task["status"] == "Failed", task
    assert "stopped" in task["message"]
    assert 0 < task["successCount"] < total
    assert len(report(roost, task_id, "RESULTS")) >= task["successCount"]
