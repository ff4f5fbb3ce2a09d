"""IoT policies, their versions and their attachments through the real AWS CLI."""

from __future__ import annotations

import json


def document(action: str = "iot:Connect", resource: str = "*") -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
    })


MALFORMED = [
    '{"Version": "2012-10-17", "Statement": [',  # not JSON
    json.dumps({"Version": "2012-10-17"}),  # no Statement
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "iot:Connect",
                                                        "Resource": "*"}]}),
    json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect"}]}),
]


def policy_names(listing):
    return [p["policyName"] for p in listing["policies"]]


def test_create_get_list_and_delete_a_policy(roost, unique):
    name = unique("policy")
    doc = document("iot:Publish", "arn:aws:iot:us-east-1:123456789012:topic/a/b")
    out = roost.aws("create-policy", "--policy-name", name, "--policy-document", doc)
    assert out == {
        "policyName": name,
        "policyArn": roost.arn("policy", name),
        "policyDocument": doc,
        "policyVersionId": "1",
    }

    got = roost.aws("get-policy", "--policy-name", name)
    assert got["policyName"] == name
    assert got["policyArn"] == roost.arn("policy", name)
    assert got["policyDocument"] == doc
    assert got["defaultVersionId"] == "1"
    assert got["generationId"]
    assert got["creationDate"] and got["lastModifiedDate"]

    assert {"policyName": name, "policyArn": roost.arn("policy", name)} in roost.aws("list-policies")["policies"]

    err = roost.aws_error("create-policy", "--policy-name", name, "--policy-document", document())
    assert err.code == "ResourceAlreadyExistsException"
    assert roost.aws("get-policy", "--policy-name", name)["policyDocument"] == doc

    assert roost.aws("delete-policy", "--policy-name", name) == {}
    assert roost.aws_error("get-policy", "--policy-name", name).code == "ResourceNotFoundException"
    assert roost.aws_error("delete-policy", "--policy-name", name).code == "ResourceNotFoundException"


def test_a_malformed_policy_document_is_refused_and_creates_nothing(roost, unique):
    for text in MALFORMED:
        name = unique("policy")
        err = roost.aws_error("create-policy", "--policy-name", name, "--policy-document", text)
        assert err.code == "MalformedPolicyException", text
        assert roost.aws_error("get-policy", "--policy-name", name).code == "ResourceNotFoundException"

    name = unique("policy")
    roost.aws("create-policy", "--policy-name", name, "--policy-document", document())
    for text in MALFORMED:
        err = roost.aws_error("create-policy-version", "--policy-name", name, "--policy-document", text,
                              "--set-as-default")
        assert err.code == "MalformedPolicyException", text
    assert [v["versionId"] for v in roost.aws("list-policy-versions", "--policy-name", name)[
        "policyVersions"]] == ["1"]


def test_a_policy_longer_than_2048_characters_is_malformed(roost, unique):
    name = unique("policy")
    resources = [f"arn:aws:iot:us-east-1:123456789012:topic/{'x' * 40}/{i}" for i in range(50)]
    long_doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": resources}]})
    err = roost.aws_error("create-policy", "--policy-name", name, "--policy-document", long_doc)
    assert err.code == "MalformedPolicyException"


def test_policy_versions_up_to_five_with_a_default(roost, unique):
    name = unique("policy")
    roost.aws("create-policy", "--policy-name", name, "--policy-document", document("iot:Connect"))

    v2 = roost.aws("create-policy-version", "--policy-name", name, "--policy-document", document("iot:Publish"))
    assert v2 == {
        "policyArn": roost.arn("policy", name),
        "policyDocument": document("iot:Publish"),
        "policyVersionId": "2",
        "isDefaultVersion": False,
    }
    assert roost.aws("get-policy", "--policy-name", name)["defaultVersionId"] == "1"

    v3 = roost.aws("create-policy-version", "--policy-name", name, "--policy-document",
                   document("iot:Subscribe"), "--set-as-default")
    assert v3["policyVersionId"] == "3" and v3["isDefaultVersion"] is True
    got = roost.aws("get-policy", "--policy-name", name)
    assert got["defaultVersionId"] == "3"
    assert got["policyDocument"] == document("iot:Subscribe")

    roost.aws("create-policy-version", "--policy-name", name, "--policy-document", document("iot:Receive"))
    roost.aws("create-policy-version", "--policy-name", name, "--policy-document", document("iot:*"))
    err = roost.aws_error("create-policy-version", "--policy-name", name, "--policy-document", document())
    assert err.code == "VersionsLimitExceededException"

    versions = roost.aws("list-policy-versions", "--policy-name", name)["policyVersions"]
    assert [v["versionId"] for v in versions] == ["5", "4", "3", "2", "1"]
    assert [v["isDefaultVersion"] for v in versions] == [False, False, True, False, False]
    assert all("createDate" in v for v in versions)

    one = roost.aws("get-policy-version", "--policy-name", name, "--policy-version-id", "1")
    assert one["policyArn"] == roost.arn("policy", name)
    assert one["policyName"] == name
    assert one["policyDocument"] == document("iot:Connect")
    assert one["policyVersionId"] == "1"
    assert one["isDefaultVersion"] is False
    assert one["generationId"]
    assert one["creationDate"] and one["lastModifiedDate"]

    assert roost.aws("set-default-policy-version", "--policy-name", name, "--policy-version-id", "2") == {}
    got = roost.aws("get-policy", "--policy-name", name)
    assert got["defaultVersionId"] == "2" and got["policyDocument"] == document("iot:Publish")
    assert roost.aws("get-policy-version", "--policy-name", name, "--policy-version-id", "2")[
        "isDefaultVersion"] is True

    err = roost.aws_error("delete-policy-version", "--policy-name", name, "--policy-version-id", "2")
    assert err.code == "DeleteConflictException"
    assert roost.aws("delete-policy-version", "--policy-name", name, "--policy-version-id", "5") == {}
    err = roost.aws_error("get-policy-version", "--policy-name", name, "--policy-version-id", "5")
    assert err.code == "ResourceNotFoundException"
    # Version ids are never reused.
    again = roost.aws("create-policy-version", "--policy-name", name, "--policy-document", document("iot:Publish"))
    assert again["policyVersionId"] == "6"

    err = roost.aws_error("delete-policy", "--policy-name", name)
    assert err.code == "DeleteConflictException", "non-default versions exist"
    for version in ("1", "3", "4", "6"):
        roost.aws("delete-policy-version", "--policy-name", name, "--policy-version-id", version)
    assert roost.aws("delete-policy", "--policy-name", name) == {}


def test_version_operations_on_missing_policies_or_versions_are_not_found(roost, unique):
    name, missing = unique("policy"), unique("none")
    roost.aws("create-policy", "--policy-name", name, "--policy-document", document())
    for args in (
        ("create-policy-version", "--policy-name", missing, "--policy-document", document()),
        ("list-policy-versions", "--policy-name", missing),
        ("get-policy-version", "--policy-name", missing, "--policy-version-id", "1"),
        ("get-policy-version", "--policy-name", name, "--policy-version-id", "9"),
        ("set-default-policy-version", "--policy-name", name, "--policy-version-id", "9"),
        ("delete-policy-version", "--policy-name", name, "--policy-version-id", "9"),
    ):
        assert roost.aws_error(*args).code == "ResourceNotFoundException", args
    err = roost.aws_error("get-policy-version", "--policy-name", name, "--policy-version-id", "one")
    assert err.code == "InvalidRequestException"
    assert "policyVersionId" in err.message


def test_policies_attach_to_certificates_and_thing_groups(roost, unique):
    name = unique("policy")
    roost.aws("create-policy", "--policy-name", name, "--policy-document", document())
    cert_arn = roost.aws("create-keys-and-certificate")["certificateArn"]
    group = unique("group")
    group_arn = roost.aws("create-thing-group", "--thing-group-name", group)["thingGroupArn"]

    assert roost.aws("attach-policy", "--policy-name", name, "--target", cert_arn) == {}
    roost.aws("attach-policy", "--policy-name", name, "--target", cert_arn)  # again: no-op
    roost.aws("attach-policy", "--policy-name", name, "--target", group_arn)

    expected = [{"policyName": name, "policyArn": roost.arn("policy", name)}]
    assert roost.aws("list-attached-policies", "--target", cert_arn)["policies"] == expected
    assert roost.aws("list-attached-policies", "--target", group_arn)["policies"] == expected
    assert sorted(roost.aws("list-targets-for-policy", "--policy-name", name)["targets"]) == sorted(
        [cert_arn, group_arn])

    err = roost.aws_error("delete-policy", "--policy-name", name)
    assert err.code == "DeleteConflictException", "the policy is attached"

    assert roost.aws("detach-policy", "--policy-name", name, "--target", cert_arn) == {}
    assert roost.aws("list-attached-policies", "--target", cert_arn)["policies"] == []
    assert roost.aws("list-targets-for-policy", "--policy-name", name)["targets"] == [group_arn]
    roost.aws("detach-policy", "--policy-name", name, "--target", group_arn)
    assert roost.aws("delete-policy", "--policy-name", name) == {}


def test_attaching_to_missing_or_unsupported_targets_fails(roost, unique):
    name = unique("policy")
    roost.aws("create-policy", "--policy-name", name, "--policy-document", document())
    thing = unique("thing")
    thing_arn = roost.aws("create-thing", "--thing-name", thing)["thingArn"]
    cert_arn = roost.aws("create-keys-and-certificate")["certificateArn"]

    err = roost.aws_error("attach-policy", "--policy-name", name, "--target", roost.arn("cert", "a" * 64))
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("attach-policy", "--policy-name", name, "--target", roost.arn("thinggroup", unique("none")))
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("attach-policy", "--policy-name", unique("none"), "--target", cert_arn)
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("attach-policy", "--policy-name", name, "--target", thing_arn)
    assert err.code == "InvalidRequestException"
    err = roost.aws_error("attach-policy", "--policy-name", name, "--target", "not-an-arn")
    assert err.code == "InvalidRequestException"
    assert "target" in err.message
    err = roost.aws_error("list-attached-policies", "--target", roost.arn("cert", "b" * 64))
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("list-targets-for-policy", "--policy-name", unique("none"))
    assert err.code == "ResourceNotFoundException"
    assert roost.aws("list-targets-for-policy", "--policy-name", name)["targets"] == []


def test_a_target_has_at_most_ten_policies(roost, unique):
    iot = roost.client()
    cert_arn = iot.create_keys_and_certificate()["certificateArn"]
    names = [unique("p") for _ in range(11)]
    for name in names:
        iot.create_policy(policyName=name, policyDocument=document())
    for name in names[:10]:
        iot.attach_policy(policyName=name, target=cert_arn)
    err = roost.aws_error("attach-policy", "--policy-name", names[10], "--target", cert_arn)
    assert err.code == "LimitExceededException"
    assert len(roost.aws("list-attached-policies", "--target", cert_arn)["policies"]) == 10


def test_list_attached_policies_recursive_includes_the_policies_of_parent_groups(roost, unique):
    root, child = unique("root"), unique("child")
    root_arn = roost.aws("create-thing-group", "--thing-group-name", root)["thingGroupArn"]
    child_arn = roost.aws("create-thing-group", "--thing-group-name", child, "--parent-group-name", root)[
        "thingGroupArn"]
    on_root, on_child = unique("onroot"), unique("onchild")
    for name in (on_root, on_child):
        roost.aws("create-policy", "--policy-name", name, "--policy-document", document())
    roost.aws("attach-policy", "--policy-name", on_root, "--target", root_arn)
    roost.aws("attach-policy", "--policy-name", on_child, "--target", child_arn)

    assert policy_names(roost.aws("list-attached-policies", "--target", child_arn)) == [on_child]
    assert sorted(policy_names(roost.aws("list-attached-policies", "--target", child_arn, "--recursive"))) == sorted(
        [on_root, on_child])
    assert policy_names(roost.aws("list-attached-policies", "--target", root_arn, "--recursive")) == [on_root]


def test_the_legacy_principal_policy_operations(roost, unique):
    name = unique("policy")
    roost.aws("create-policy", "--policy-name", name, "--policy-document", document())
    cert_arn = roost.aws("create-keys-and-certificate")["certificateArn"]

    assert roost.aws("attach-principal-policy", "--policy-name", name, "--principal", cert_arn) == {}
    assert roost.aws("list-principal-policies", "--principal", cert_arn)["policies"] == [
        {"policyName": name, "policyArn": roost.arn("policy", name)}]
    assert roost.aws("list-policy-principals", "--policy-name", name)["principals"] == [cert_arn]
    assert roost.aws("list-attached-policies", "--target", cert_arn)["policies"][0]["policyName"] == name

    # A thing group target is not a principal.
    group_arn = roost.aws("create-thing-group", "--thing-group-name", unique("group"))["thingGroupArn"]
    roost.aws("attach-policy", "--policy-name", name, "--target", group_arn)
    assert roost.aws("list-policy-principals", "--policy-name", name)["principals"] == [cert_arn]

    assert roost.aws("detach-principal-policy", "--policy-name", name, "--principal", cert_arn) == {}
    assert roost.aws("list-principal-policies", "--principal", cert_arn)["policies"] == []
    assert roost.aws("list-policy-principals", "--policy-name", name)["principals"] == []

    err = roost.aws_error("attach-principal-policy", "--policy-name", unique("none"), "--principal", cert_arn)
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("list-policy-principals", "--policy-name", unique("none"))
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("list-principal-policies", "--principal", roost.arn("cert", "c" * 64))
    assert err.code == "ResourceNotFoundException"
