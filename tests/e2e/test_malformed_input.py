"""Malformed input of every kind — PEM, CSR, JSON, names outside the model's patterns, over-long
fields, bad query members and headers — is refused with InvalidRequestException (or the
operation's specific type) whose message names the member, never a 5xx, and changes nothing.

Some of it goes through the CLI; what the CLI would refuse before sending (types, required
members) is sent as raw signed requests, as any SDK or script could."""

from __future__ import annotations

import json

import pytest

import certs

POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
)


@pytest.fixture(scope="module")
def existing(roost):
    """A few resources the malformed requests aim at, made once."""
    iot = roost.client()
    iot.create_thing(thingName="existing", attributePayload={"attributes": {"a": "1"}})
    iot.create_policy(policyName="existing-policy", policyDocument=POLICY)
    iot.create_thing_group(thingGroupName="existing-group")
    iot.create_billing_group(billingGroupName="existing-billing")
    cert = iot.create_keys_and_certificate(setAsActive=True)
    return {"cert_arn": cert["certificateArn"], "cert_id": cert["certificateId"]}


def snapshot(roost):
    """Everything a malformed request could have changed."""
    iot = roost.client()
    thing = iot.describe_thing(thingName="existing")
    return {
        "things": iot.list_things(maxResults=250)["things"],
        "thing": {k: thing[k] for k in ("attributes", "version")},
        "types": iot.list_thing_types(maxResults=250)["thingTypes"],
        "groups": iot.list_thing_groups(maxResults=250)["thingGroups"],
        "group": iot.describe_thing_group(thingGroupName="existing-group")["version"],
        "billing": iot.list_billing_groups(maxResults=250)["billingGroups"],
        "policies": iot.list_policies(pageSize=250)["policies"],
        "versions": iot.list_policy_versions(policyName="existing-policy")["policyVersions"],
        "certificates": iot.list_certificates(pageSize=250)["certificates"],
        "cas": iot.list_ca_certificates(pageSize=250)["certificates"],
        "tags": iot.list_tags_for_resource(resourceArn=roost.arn("thing", "existing"))["tags"],
        "principals": iot.list_thing_principals(thingName="existing")["principals"],
    }


@pytest.fixture
def unchanged(roost, existing):
    """Asserts the test changed nothing on the server."""
    before = snapshot(roost)
    yield
    assert snapshot(roost) == before


def cli_refuses(roost, args, member, code="InvalidRequestException"):
    err = roost.aws_error(*args)
    assert err.code == code, f"{args}: {err}"
    assert member in err.message, f"{args}: the message does not name {member!r}: {err.message}"


def raw_refuses(response, member, code="InvalidRequestException", status=400):
    assert response.status == status, response
    assert response.error_type == code, response
    assert response.json and response.json.get("__type") == code, response
    assert member in response.message, f"the message does not name {member!r}: {response}"


LONG_NAME = "n" * 129

NAMES = [
    (["create-thing", "--thing-name", "bad name"], "thingName"),
    (["create-thing", "--thing-name", LONG_NAME], "thingName"),
    (["create-thing", "--thing-name", "a/b"], "thingName"),
    (["create-thing", "--thing-name", "ünïcode"], "thingName"),
    (["describe-thing", "--thing-name", "bad name"], "thingName"),
    (["update-thing", "--thing-name", "bad name", "--remove-thing-type"], "thingName"),
    (["delete-thing", "--thing-name", "bad*name"], "thingName"),
    (["create-thing", "--thing-name", "fine", "--thing-type-name", "bad type"], "thingTypeName"),
    (["create-thing", "--thing-name", "fine", "--billing-group-name", "bad group"], "billingGroupName"),
    (["create-thing-type", "--thing-type-name", "bad type"], "thingTypeName"),
    (["create-thing-group", "--thing-group-name", "bad group"], "thingGroupName"),
    (["create-thing-group", "--thing-group-name", "fine", "--parent-group-name", "bad group"], "parentGroupName"),
    (["create-billing-group", "--billing-group-name", LONG_NAME], "billingGroupName"),
    (["create-policy", "--policy-name", "bad policy", "--policy-document", POLICY], "policyName"),
    (["create-policy", "--policy-name", "p" * 129, "--policy-document", POLICY], "policyName"),
    (["get-policy", "--policy-name", "bad/policy"], "policyName"),
    (["list-things-in-thing-group", "--thing-group-name", "bad group"], "thingGroupName"),
    (["list-thing-principals", "--thing-name", "bad name"], "thingName"),
    (["add-thing-to-thing-group", "--thing-group-name", "existing-group", "--thing-name", "bad name"], "thingName"),
    (["add-thing-to-billing-group", "--billing-group-name", "bad group", "--thing-name", "existing"],
     "billingGroupName"),
    (["get-policy-version", "--policy-name", "existing-policy", "--policy-version-id", "v1"], "policyVersionId"),
]


@pytest.mark.parametrize("args,member", NAMES, ids=[" ".join(a)[:60] for a, _ in NAMES])
def test_names_outside_the_model_patterns_are_invalid(roost, unchanged, args, member):
    cli_refuses(roost, args, member)


FIELDS = [
    (["create-thing", "--thing-name", "fine", "--attribute-payload", '{"attributes": {"bad key": "v"}}'],
     "attributePayload.attributes"),
    (["create-thing", "--thing-name", "fine", "--attribute-payload", json.dumps({"attributes": {"k": "v" * 801}})],
     "attributePayload.attributes"),
    (["create-thing", "--thing-name", "fine", "--attribute-payload", '{"attributes": {"k": "a value"}}'],
     "attributePayload.attributes"),
    (["update-thing", "--thing-name", "existing", "--attribute-payload", '{"attributes": {"k": "tab\\there"}}'],
     "attributePayload.attributes"),
    (["create-thing-type", "--thing-type-name", "fine", "--thing-type-properties",
      json.dumps({"thingTypeDescription": "d" * 2029})], "thingTypeDescription"),
    (["create-thing-group", "--thing-group-name", "fine", "--thing-group-properties",
      json.dumps({"thingGroupDescription": "d" * 2029})], "thingGroupDescription"),
    (["update-thing-group", "--thing-group-name", "existing-group", "--thing-group-properties",
      json.dumps({"attributePayload": {"attributes": {"bad key": "v"}}})], "attributePayload.attributes"),
    (["create-billing-group", "--billing-group-name", "fine", "--billing-group-properties",
      json.dumps({"billingGroupDescription": "line\nbreak"})], "billingGroupDescription"),
    (["tag-resource", "--resource-arn", "arn:aws:iot:us-east-1:123456789012:thing/existing",
      "--tags", json.dumps([{"Key": "k" * 129, "Value": "v"}])], "Key"),
    (["tag-resource", "--resource-arn", "arn:aws:iot:us-east-1:123456789012:thing/existing",
      "--tags", json.dumps([{"Key": "k", "Value": "v" * 257}])], "Value"),
    (["tag-resource", "--resource-arn", "arn:aws:iot:us-east-1:123456789012:thing/ex isting",
      "--tags", "Key=k,Value=v"], "resourceArn"),
    (["create-policy", "--policy-name", "fine", "--policy-document", POLICY,
      "--tags", json.dumps([{"Key": "bad*key", "Value": "v"}])], "Key"),
    (["update-certificate", "--certificate-id", "0" * 64, "--new-status", "active"], "newStatus"),
    (["list-thing-principals-v2", "--thing-name", "existing", "--thing-principal-type", "BOTH"],
     "thingPrincipalType"),
    (["describe-endpoint", "--endpoint-type", "iot:Everything"], "endpointType"),
    (["list-things", "--attribute-value", "v"], "attributeName"),
]


@pytest.mark.parametrize("args,member", FIELDS, ids=[" ".join(a)[:60] for a, _ in FIELDS])
def test_fields_outside_their_constraints_are_invalid(roost, unchanged, args, member):
    cli_refuses(roost, args, member)


def test_registration_configs_outside_the_model_are_invalid(roost, unchanged, tmp_path):
    ca = certs.root_ca(tmp_path, subj="/O=Roost Tests/CN=Config Checked CA")
    base = ["register-ca-certificate", "--ca-certificate", ca.uri, "--certificate-mode", "SNI_ONLY"]
    cli_refuses(roost, base + ["--registration-config", "roleArn=arn:aws:iam::123456789012:role/" + "r" * 2030],
                "roleArn")
    cli_refuses(roost, base + ["--registration-config", "templateName=bad name!"], "templateName")
    config = tmp_path / "huge.json"
    config.write_text(json.dumps({"templateBody": json.dumps({"x": "y" * 10_300}),
                                  "roleArn": "arn:aws:iam::123456789012:role/JITPRole"}))
    cli_refuses(roost, base + ["--registration-config", f"file://{config}"], "templateBody")
    cli_refuses(roost, base + ["--certificate-mode", "SOMETIMES"], "certificateMode")


def test_malformed_pem_and_csr_are_refused_naming_the_member(roost, unchanged, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n")
    huge = tmp_path / "huge.pem"
    huge.write_text("A" * 70_000)
    code = roost.aws("get-registration-code")["registrationCode"]
    ca = certs.root_ca(tmp_path, subj="/O=Roost Tests/CN=Pem Checked CA")
    verification = certs.verification_cert(ca, tmp_path, code)

    cli_refuses(roost, ["register-ca-certificate", "--ca-certificate", f"file://{garbage}",
                        "--verification-certificate", verification.uri], "caCertificate",
                code="CertificateValidationException")
    cli_refuses(roost, ["register-ca-certificate", "--ca-certificate", ca.uri,
                        "--verification-certificate", f"file://{garbage}"], "verificationCertificate",
                code="CertificateValidationException")
    cli_refuses(roost, ["register-certificate", "--certificate-pem", f"file://{huge}"], "certificatePem")
    cli_refuses(roost, ["register-certificate", "--certificate-pem", verification.uri,
                        "--ca-certificate-pem", f"file://{garbage}"], "caCertificatePem",
                code="CertificateValidationException")
    cli_refuses(roost, ["create-certificate-from-csr", "--certificate-signing-request", "not a csr"],
                "certificateSigningRequest")
    cli_refuses(roost, ["create-certificate-from-csr", "--certificate-signing-request", "C" * 5000],
                "certificateSigningRequest")
    # A certificate where a CSR belongs.
    cli_refuses(roost, ["create-certificate-from-csr", "--certificate-signing-request", ca.uri],
                "certificateSigningRequest")


BODIES = [
    ("POST", "/things/fine", "{not json", "JSON"),
    ("POST", "/things/fine", "[]", "JSON"),
    ("POST", "/things/fine", '{"thingTypeName": "t"} trailing', "JSON"),
    ("POST", "/things/fine", '{"attributePayload": {"attributes": {"serial": 5}}}',
     "attributePayload.attributes.serial"),
    ("POST", "/things/fine", '{"thingTypeName": ["list"]}', "thingTypeName"),
    ("PATCH", "/things/existing", '{"expectedVersion": "one"}', "expectedVersion"),
    ("PATCH", "/things/existing", '{"attributePayload": {"merge": "yes"}}', "attributePayload.merge"),
    ("POST", "/policies/fine", '{"policyDocument": {"Version": "2012-10-17"}}', "policyDocument"),
    ("POST", "/policies/fine", "{}", "policyDocument"),
    ("PUT", "/target-policies/existing-policy", '{"target": 7}', "target"),
    ("PUT", "/target-policies/existing-policy", "{}", "target"),
    ("POST", "/tags", '{"resourceArn": "arn:aws:iot:us-east-1:123456789012:thing/existing", "tags": {"k": "v"}}',
     "tags"),
    ("POST", "/tags", '{"tags": []}', "resourceArn"),
    ("POST", "/untag", '{"resourceArn": "arn:aws:iot:us-east-1:123456789012:thing/existing"}', "tagKeys"),
    ("POST", "/thing-groups/fine", '{"thingGroupProperties": {"attributePayload": {"attributes": []}}}',
     "thingGroupProperties.attributePayload.attributes"),
    ("POST", "/keys-and-certificate?setAsActive=maybe", "", "setAsActive"),
    ("POST", "/certificates", '{"certificateSigningRequest": 12}', "certificateSigningRequest"),
    ("POST", "/certificate/register", "{}", "certificatePem"),
    ("POST", "/cacertificate", '{"caCertificate": "x", "tags": [{"Value": "no key"}]}', "Key"),
    ("PUT", "/thing-groups/addThingToThingGroup", '{"thingName": "existing"}', "thingGroup"),
    ("POST", "/thing-types/fine", '{"thingTypeProperties": "light bulbs"}', "thingTypeProperties"),
    ("POST", "/thing-types/fine/deprecate", '{"undoDeprecate": "no"}', "undoDeprecate"),
]


@pytest.mark.parametrize("method,path,body,member", BODIES, ids=[f"{m} {p} {b[:30]}" for m, p, b, _ in BODIES])
def test_malformed_json_bodies_are_invalid_requests(roost, unchanged, method, path, body, member):
    raw_refuses(roost.raw(method, path, body, {"Content-Type": "application/json"}), member)


QUERIES = [
    ("GET", "/things?maxResults=ten", "maxResults"),
    ("GET", "/things?maxResults=0", "maxResults"),
    ("GET", "/certificates?pageSize=-1", "pageSize"),
    ("GET", "/certificates?isAscendingOrder=sometimes", "isAscendingOrder"),
    ("GET", "/things?nextToken=zz", "nextToken"),
    ("GET", "/policies?marker=0", "marker"),
    ("GET", "/things?usePrefixAttributeValue=1", "usePrefixAttributeValue"),
    ("GET", "/things?nextToken=00", "nextToken"),
    ("GET", "/things?thingTypeName=bad%20type", "thingTypeName"),
    ("GET", "/things?attributeName=a%20b", "attributeName"),
    ("GET", "/things?attributeName=a&attributeValue=%00", "attributeValue"),
    ("GET", "/thing-types?thingTypeName=%00", "thingTypeName"),
    ("GET", "/thing-groups?namePrefixFilter=%2A", "namePrefixFilter"),
    ("GET", "/billing-groups?namePrefixFilter=a%20b", "namePrefixFilter"),
    ("GET", "/cacertificates?templateName=bad%20name", "templateName"),
    ("DELETE", "/things/existing?expectedVersion=latest", "expectedVersion"),
    ("DELETE", "/thing-groups/existing-group?expectedVersion=1.5", "expectedVersion"),
    ("PUT", "/certificates/" + "0" * 64, "newStatus"),
    ("GET", "/tags", "resourceArn"),
    ("GET", "/tags?resourceArn=arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Athing%2Fexisting&nextToken=zz",
     "nextToken"),
]


@pytest.mark.parametrize("method,path,member", QUERIES, ids=[f"{m} {p}" for m, p, _ in QUERIES])
def test_malformed_query_members_are_invalid_requests(roost, unchanged, method, path, member):
    raw_refuses(roost.raw(method, path), member)


def test_principals_travel_in_required_headers(roost, unchanged, existing):
    raw_refuses(roost.raw("PUT", "/things/existing/principals"), "x-amzn-principal")
    raw_refuses(roost.raw("GET", "/principals/things"), "x-amzn-principal")
    raw_refuses(roost.raw("PUT", "/principal-policies/existing-policy"), "x-amzn-iot-principal")
    raw_refuses(roost.raw("GET", "/policy-principals"), "x-amzn-iot-policy")
    raw_refuses(roost.raw("PUT", "/things/existing/principals", headers={"x-amzn-principal": "cert/abc"}),
                "principal")


def test_labels_that_do_not_decode_are_invalid_requests(roost, unchanged):
    raw_refuses(roost.raw("GET", "/things/%FF%FE"), "thingName")
    raw_refuses(roost.raw("POST", "/things/%C3%28", "{}"), "thingName")
    raw_refuses(roost.raw("GET", "/policies/%FF/version/1"), "policyName")


def test_a_body_over_the_limit_is_refused(roost, unchanged):
    body = json.dumps({"policyDocument": "x" * (2 << 20)})
    response = roost.raw("POST", "/policies/huge", body)
    assert response.status == 400 and response.error_type == "InvalidRequestException", response


def test_an_unknown_route_or_method_is_answered_as_aws_does(roost, unchanged):
    response = roost.raw("GET", "/no-such-operation")
    assert response.status == 404, response
    assert response.error_type == "UnknownOperationException"
    response = roost.raw("PATCH", "/certificates")
    assert response.status == 405, response
    assert response.error_type == "MethodNotAllowedException"


def test_every_error_carries_a_request_id(roost, unchanged):
    response = roost.raw("GET", "/things/nope")
    assert response.status == 404 and response.error_type == "ResourceNotFoundException"
    assert response.headers.get("x-amzn-requestid")
    assert response.headers["x-amzn-errortype"] == "ResourceNotFoundException:"
