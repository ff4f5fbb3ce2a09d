"""Provisioning templates, their versions, the CA registration configs that name them, and
RegisterThing, through the real AWS CLI."""

from __future__ import annotations

import itertools
import json
import subprocess

import pytest

import certs

ROLE = "arn:aws:iam::123456789012:role/Provisioning"

THING_TEMPLATE = json.dumps({
    "Parameters": {"ThingName": {"Type": "String"}},
    "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}}},
})

# A template as AWS's bulk registration docs write them: a thing, a certificate from a CSR, a
# policy by document.
CSR_TEMPLATE = json.dumps({
    "Parameters": {
        "ThingName": {"Type": "String"},
        "SerialNumber": {"Type": "String"},
        "CSR": {"Type": "String"},
    },
    "Resources": {
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {
                "ThingName": {"Ref": "ThingName"},
                "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
            },
        },
        "certificate": {
            "Type": "AWS::IoT::Certificate",
            "Properties": {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"},
        },
        "policy": {
            "Type": "AWS::IoT::Policy",
            "Properties": {"PolicyDocument": json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}],
            })},
        },
    },
})


@pytest.fixture
def work(tmp_path):
    return tmp_path


_names = itertools.count(1)


@pytest.fixture
def unique():
    """Names unique on the module's server and short enough for templates (36 characters)."""
    return lambda kind="r": f"{kind}-{next(_names)}"


def write(work, name: str, text: str) -> str:
    path = work / name
    path.write_text(text)
    return f"file://{path}"


def create(roost, work, name: str, *extra: str, body: str = THING_TEMPLATE):
    return roost.aws(
        "create-provisioning-template", "--template-name", name,
        "--template-body", write(work, f"{name}.json", body),
        "--provisioning-role-arn", ROLE, *extra,
    )


def registered_ca(roost, work, name, *extra):
    """A CA registered with its proof of possession; returns its certificateId."""
    ca = certs.root_ca(work / name, subj=f"/C=US/O=Roost Tests/CN={name}")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work / name, code)
    return roost.aws(
        "register-ca-certificate", "--ca-certificate", ca.uri,
        "--verification-certificate", verification.uri, *extra,
    )["certificateId"]


# -- templates --------------------------------------------------------------------------------


def test_a_template_is_created_described_listed_updated_and_deleted(roost, work, unique):
    name = unique("tpl")
    out = create(roost, work, name, "--description", "Line 3 devices", "--tags", "Key=line,Value=3")
    arn = roost.arn("provisioningtemplate", name)
    assert out == {"templateArn": arn, "templateName": name, "defaultVersionId": 1}

    described = roost.aws("describe-provisioning-template", "--template-name", name)
    assert described["templateArn"] == arn
    assert described["templateName"] == name
    assert described["description"] == "Line 3 devices"
    assert described["templateBody"] == THING_TEMPLATE
    assert described["enabled"] is False, "a template is created disabled unless --enabled"
    assert described["type"] == "FLEET_PROVISIONING"
    assert described["provisioningRoleArn"] == ROLE
    assert described["defaultVersionId"] == 1
    assert "preProvisioningHook" not in described
    assert described["creationDate"] and described["lastModifiedDate"]

    listed = roost.aws("list-provisioning-templates")["templates"]
    summary = next(t for t in listed if t["templateName"] == name)
    assert summary["templateArn"] == arn
    assert summary["enabled"] is False
    assert summary["type"] == "FLEET_PROVISIONING"
    assert summary["description"] == "Line 3 devices"

    assert roost.aws("list-tags-for-resource", "--resource-arn", arn)["tags"] == [
        {"Key": "line", "Value": "3"}
    ]
    roost.aws("tag-resource", "--resource-arn", arn, "--tags", "Key=site,Value=eu")
    assert len(roost.aws("list-tags-for-resource", "--resource-arn", arn)["tags"]) == 2

    assert roost.aws(
        "update-provisioning-template", "--template-name", name, "--enabled",
        "--description", "Enabled now",
        "--pre-provisioning-hook", "targetArn=https://hooks.example.com/provision,payloadVersion=2020-04-01",
    ) == {}
    described = roost.aws("describe-provisioning-template", "--template-name", name)
    assert described["enabled"] is True
    assert described["description"] == "Enabled now"
    assert described["preProvisioningHook"] == {
        "targetArn": "https://hooks.example.com/provision", "payloadVersion": "2020-04-01",
    }

    roost.aws("update-provisioning-template", "--template-name", name, "--remove-pre-provisioning-hook")
    described = roost.aws("describe-provisioning-template", "--template-name", name)
    assert "preProvisioningHook" not in described
    assert described["enabled"] is True

    err = roost.aws_error("create-provisioning-template", "--template-name", name,
                          "--template-body", THING_TEMPLATE, "--provisioning-role-arn", ROLE)
    assert err.code == "ResourceAlreadyExistsException"

    assert roost.aws("delete-provisioning-template", "--template-name", name) == {}
    for args in (["describe-provisioning-template", "--template-name", name],
                 ["delete-provisioning-template", "--template-name", name]):
        assert roost.aws_error(*args).code == "ResourceNotFoundException"
    assert roost.aws_error("list-tags-for-resource", "--resource-arn", arn).code == "ResourceNotFoundException"


def test_a_jitp_template_is_made_with_type_jitp_and_may_not_have_a_hook(roost, work, unique):
    name = unique("jitp")
    create(roost, work, name, "--type", "JITP", "--enabled")
    described = roost.aws("describe-provisioning-template", "--template-name", name)
    assert described["type"] == "JITP"
    assert described["enabled"] is True

    err = roost.aws_error(
        "create-provisioning-template", "--template-name", unique("jitp"), "--type", "JITP",
        "--template-body", THING_TEMPLATE, "--provisioning-role-arn", ROLE,
        "--pre-provisioning-hook", "targetArn=https://hooks.example.com/x",
    )
    assert err.code == "InvalidRequestException"
    assert "preProvisioningHook" in err.message


def test_a_lambda_arn_hook_is_stored_as_given(roost, work, unique):
    name = unique("tpl")
    lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:pre-provision"
    create(roost, work, name, "--pre-provisioning-hook", f"targetArn={lambda_arn}")
    described = roost.aws("describe-provisioning-template", "--template-name", name)
    assert described["preProvisioningHook"] == {"targetArn": lambda_arn}


def test_an_invalid_template_body_is_refused_naming_the_place_in_the_template(roost, work, unique):
    name = unique("tpl")
    body = json.dumps({"Resources": {"thing": {
        "Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Missing"}}}}})
    err = roost.aws_error("create-provisioning-template", "--template-name", name,
                          "--template-body", body, "--provisioning-role-arn", ROLE)
    assert err.code == "InvalidRequestException"
    assert "Resources.thing.Properties.ThingName" in err.message
    assert roost.aws_error("describe-provisioning-template", "--template-name", name).code == \
        "ResourceNotFoundException"

    for bad in (["--template-name", "bad name!"], ["--template-name", "x" * 37]):
        err = roost.aws_error("create-provisioning-template", *bad, "--template-body", THING_TEMPLATE,
                              "--provisioning-role-arn", ROLE)
        assert err.code == "InvalidRequestException"
        assert "templateName" in err.message


# -- versions ---------------------------------------------------------------------------------


def test_versions_are_limited_to_five_and_the_default_cannot_be_deleted(roost, work, unique):
    name = unique("tpl")
    create(roost, work, name)
    body = write(work, "v.json", THING_TEMPLATE)
    for expected in (2, 3, 4):
        out = roost.aws("create-provisioning-template-version", "--template-name", name,
                        "--template-body", body)
        assert out == {"templateArn": roost.arn("provisioningtemplate", name), "templateName": name,
                       "versionId": expected, "isDefaultVersion": False}
    out = roost.aws("create-provisioning-template-version", "--template-name", name,
                    "--template-body", body, "--set-as-default")
    assert out["versionId"] == 5 and out["isDefaultVersion"] is True
    err = roost.aws_error("create-provisioning-template-version", "--template-name", name,
                          "--template-body", body)
    assert err.code == "VersionsLimitExceededException"

    versions = roost.aws("list-provisioning-template-versions", "--template-name", name)["versions"]
    assert [(v["versionId"], v["isDefaultVersion"]) for v in versions] == [
        (1, False), (2, False), (3, False), (4, False), (5, True)]
    assert roost.aws("describe-provisioning-template", "--template-name", name)["defaultVersionId"] == 5

    version = roost.aws("describe-provisioning-template-version", "--template-name", name,
                        "--version-id", "1")
    assert version["versionId"] == 1
    assert version["templateBody"] == THING_TEMPLATE
    assert version["isDefaultVersion"] is False
    assert version["creationDate"]

    err = roost.aws_error("delete-provisioning-template-version", "--template-name", name,
                          "--version-id", "5")
    assert err.code == "DeleteConflictException"
    assert roost.aws("delete-provisioning-template-version", "--template-name", name,
                     "--version-id", "1") == {}
    assert roost.aws_error("describe-provisioning-template-version", "--template-name", name,
                           "--version-id", "1").code == "ResourceNotFoundException"
    out = roost.aws("create-provisioning-template-version", "--template-name", name,
                    "--template-body", body)
    assert out["versionId"] == 6, "version ids are never reused"

    roost.aws("update-provisioning-template", "--template-name", name, "--default-version-id", "2")
    assert roost.aws("describe-provisioning-template", "--template-name", name)["defaultVersionId"] == 2
    err = roost.aws_error("update-provisioning-template", "--template-name", name,
                          "--default-version-id", "1")
    assert err.code == "ResourceNotFoundException"

    err = roost.aws_error("create-provisioning-template-version", "--template-name", name,
                          "--template-body", "{not json")
    assert err.code == "InvalidRequestException"
    assert roost.aws_error("create-provisioning-template-version", "--template-name", unique("none"),
                           "--template-body", body).code == "ResourceNotFoundException"


# -- CA registration configs that name a template ----------------------------------------------


def test_a_ca_may_name_only_an_existing_jitp_template(roost, work, unique):
    missing = unique("jitp")
    err = roost.aws_error(*_register_ca_args(roost, work, "Missing Template CA", missing))
    assert err.code == "InvalidRequestException"
    assert missing in err.message

    fleet = unique("fleet")
    create(roost, work, fleet)
    err = roost.aws_error(*_register_ca_args(roost, work, "Fleet Template CA", fleet))
    assert err.code == "InvalidRequestException"
    assert "JITP" in err.message

    jitp = unique("jitp")
    create(roost, work, jitp, "--type", "JITP")
    ca_id = registered_ca(roost, work, "JITP Template CA", "--registration-config", f"templateName={jitp}")
    listed = roost.aws("list-ca-certificates", "--template-name", jitp)["certificates"]
    assert [c["certificateId"] for c in listed] == [ca_id]

    err = roost.aws_error("delete-provisioning-template", "--template-name", jitp)
    assert err.code == "DeleteConflictException"
    assert ca_id in err.message

    roost.aws("update-ca-certificate", "--certificate-id", ca_id, "--remove-auto-registration")
    assert roost.aws("delete-provisioning-template", "--template-name", jitp) == {}


def _register_ca_args(roost, work, name, template):
    ca = certs.root_ca(work / name, subj=f"/C=US/O=Roost Tests/CN={name}")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work / name, code)
    return ("register-ca-certificate", "--ca-certificate", ca.uri,
            "--verification-certificate", verification.uri,
            "--registration-config", f"templateName={template}")


# -- RegisterThing ----------------------------------------------------------------------------


def public_key(args: list[str], work) -> str:
    return subprocess.run(["openssl", *args, "-noout", "-pubkey"], cwd=work, capture_output=True,
                          text=True, check=True).stdout


def test_register_thing_issues_a_certificate_for_the_csr_and_attaches_everything(roost, work, unique):
    thing = unique("thing")
    csr = certs.csr(work, "device", "/CN=device-1")
    parameters = {"ThingName": thing, "SerialNumber": "SN-0042", "CSR": csr.read_text()}
    out = roost.aws("register-thing", "--template-body", CSR_TEMPLATE,
                    "--parameters", json.dumps(parameters))

    pem = out["certificatePem"]
    arns = out["resourceArns"]
    assert set(arns) == {"thing", "certificate", "policy"}
    assert arns["thing"] == roost.arn("thing", thing)
    cert_id = certs.certificate_id(pem)
    assert arns["certificate"] == roost.arn("cert", cert_id)
    assert arns["policy"].startswith(roost.arn("policy", ""))

    (work / "issued.pem").write_text(pem)
    assert public_key(["x509", "-in", "issued.pem"], work) == public_key(["req", "-in", "device.csr"], work)

    cert = roost.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]
    assert cert["status"] == "ACTIVE"
    described = roost.aws("describe-thing", "--thing-name", thing)
    assert described["attributes"] == {"version": "v1", "serialNumber": "SN-0042"}
    assert roost.aws("list-thing-principals", "--thing-name", thing)["principals"] == [arns["certificate"]]
    attached = roost.aws("list-attached-policies", "--target", arns["certificate"])["policies"]
    assert [p["policyArn"] for p in attached] == [arns["policy"]]


def test_register_thing_with_an_existing_certificate_id(roost, work, unique):
    created = roost.aws("create-keys-and-certificate")
    template = json.dumps({
        "Parameters": {"ThingName": {"Type": "String"}, "CertificateId": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                            "Properties": {"CertificateId": {"Ref": "CertificateId"}, "Status": "ACTIVE"}},
        },
    })
    thing = unique("thing")
    out = roost.aws("register-thing", "--template-body", template, "--parameters",
                    json.dumps({"ThingName": thing, "CertificateId": created["certificateId"]}))
    assert out["certificatePem"] == created["certificatePem"]
    assert out["resourceArns"] == {"thing": roost.arn("thing", thing),
                                   "certificate": created["certificateArn"]}
    described = roost.aws("describe-certificate", "--certificate-id", created["certificateId"])
    assert described["certificateDescription"]["status"] == "ACTIVE", "INACTIVE until the template set it"


def test_a_plan_that_cannot_be_applied_is_a_registration_failure_and_creates_nothing(roost, work, unique):
    thing = unique("thing")
    template = json.dumps({
        "Parameters": {"ThingName": {"Type": "String"}},
        "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {
            "ThingName": {"Ref": "ThingName"}, "ThingTypeName": "no-such-type"}}},
    })
    err = roost.aws_error("register-thing", "--template-body", template,
                          "--parameters", json.dumps({"ThingName": thing}))
    assert err.code == "ResourceRegistrationFailureException"
    assert "no-such-type" in err.message
    assert roost.aws_error("describe-thing", "--thing-name", thing).code == "ResourceNotFoundException"

    err = roost.aws_error("register-thing", "--template-body", THING_TEMPLATE, "--parameters", "{}")
    assert err.code == "InvalidRequestException"
    assert "ThingName" in err.message

    err = roost.aws_error("register-thing", "--template-body", "{not json")
    assert err.code == "InvalidRequestException"


def test_an_override_fail_conflict_is_conflicting_resource_update(roost, work, unique):
    thing = unique("thing")
    template = json.dumps({
        "Parameters": {"ThingName": {"Type": "String"}, "Line": {"Type": "String"}},
        "Resources": {"thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {"ThingName": {"Ref": "ThingName"}, "AttributePayload": {"line": {"Ref": "Line"}}},
            "OverrideSettings": {"AttributePayload": "FAIL"},
        }},
    })
    roost.aws("register-thing", "--template-body", template,
              "--parameters", json.dumps({"ThingName": thing, "Line": "1"}))
    err = roost.aws_error("register-thing", "--template-body", template,
                          "--parameters", json.dumps({"ThingName": thing, "Line": "2"}))
    assert err.code == "ConflictingResourceUpdateException"
    assert roost.aws("describe-thing", "--thing-name", thing)["attributes"] == {"line": "1"}
