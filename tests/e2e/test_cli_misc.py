"""Tags, DescribeEndpoint, health and SigV4 failures through the real AWS CLI."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

import certs

POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
)


def tags_of(roost, arn):
    return sorted(roost.aws("list-tags-for-resource", "--resource-arn", arn)["tags"], key=lambda t: t["Key"])


def test_tags_are_set_listed_replaced_and_removed(roost, unique):
    thing_arn = roost.aws("create-thing", "--thing-name", unique("thing"))["thingArn"]
    assert roost.aws("tag-resource", "--resource-arn", thing_arn,
                     "--tags", "Key=env,Value=prod", "Key=team,Value=edge") == {}
    assert tags_of(roost, thing_arn) == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "edge"}]

    roost.aws("tag-resource", "--resource-arn", thing_arn, "--tags", "Key=env,Value=dev")
    assert tags_of(roost, thing_arn) == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "edge"}]

    assert roost.aws("untag-resource", "--resource-arn", thing_arn, "--tag-keys", "env", "absent") == {}
    assert tags_of(roost, thing_arn) == [{"Key": "team", "Value": "edge"}]


def test_create_operations_take_tags(roost, unique, tmp_path):
    tags = ["--tags", "Key=owner,Value=ops"]
    arns = [
        roost.aws("create-thing-type", "--thing-type-name", unique("type"), *tags)["thingTypeArn"],
        roost.aws("create-thing-group", "--thing-group-name", unique("group"), *tags)["thingGroupArn"],
        roost.aws("create-billing-group", "--billing-group-name", unique("billing"), *tags)["billingGroupArn"],
        roost.aws("create-policy", "--policy-name", unique("policy"), "--policy-document", POLICY, *tags)[
            "policyArn"],
    ]
    ca = certs.root_ca(tmp_path, subj="/O=Roost Tests/CN=Tagged CA")
    arns.append(roost.aws("register-ca-certificate", "--ca-certificate", ca.uri, "--certificate-mode", "SNI_ONLY",
                          *tags)["certificateArn"])
    for arn in arns:
        assert tags_of(roost, arn) == [{"Key": "owner", "Value": "ops"}], arn


def test_tags_of_a_deleted_resource_are_gone_when_it_is_created_again(roost, unique):
    name = unique("group")
    arn = roost.aws("create-billing-group", "--billing-group-name", name, "--tags", "Key=a,Value=b")[
        "billingGroupArn"]
    roost.aws("delete-billing-group", "--billing-group-name", name)
    roost.aws("create-billing-group", "--billing-group-name", name)
    assert tags_of(roost, arn) == []


def test_tagging_missing_or_malformed_resources_fails(roost, unique):
    err = roost.aws_error("tag-resource", "--resource-arn", roost.arn("thing", unique("none")),
                          "--tags", "Key=a,Value=b")
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("list-tags-for-resource", "--resource-arn", roost.arn("policy", unique("none")))
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("tag-resource", "--resource-arn", "arn:aws:s3:::bucket", "--tags", "Key=a,Value=b")
    assert err.code == "InvalidRequestException"
    assert "resourceArn" in err.message
    thing_arn = roost.aws("create-thing", "--thing-name", unique("thing"))["thingArn"]
    err = roost.aws_error("tag-resource", "--resource-arn", thing_arn, "--tags", "Key=bad\tkey,Value=b")
    assert err.code == "InvalidRequestException"
    assert "Key" in err.message
    assert tags_of(roost, thing_arn) == []


def test_a_resource_has_at_most_fifty_tags(roost, unique):
    thing_arn = roost.aws("create-thing", "--thing-name", unique("thing"))["thingArn"]
    iot = roost.client()
    iot.tag_resource(resourceArn=thing_arn, tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    err = roost.aws_error("tag-resource", "--resource-arn", thing_arn, "--tags", "Key=one-too-many,Value=v")
    assert err.code == "LimitExceededException"
    assert len(roost.aws("list-tags-for-resource", "--resource-arn", thing_arn)["tags"]) == 50


@pytest.mark.parametrize("endpoint_type", [None, "iot:Data", "iot:Data-ATS", "iot:CredentialProvider", "iot:Jobs"])
def test_describe_endpoint_gives_the_mqtt_host(roost, endpoint_type):
    args = ["describe-endpoint"] + (["--endpoint-type", endpoint_type] if endpoint_type else [])
    assert roost.aws(*args) == {"endpointAddress": roost.exports["ROOST_MQTT_HOST"]}


def test_describe_endpoint_refuses_an_unknown_type(roost):
    err = roost.aws_error("describe-endpoint", "--endpoint-type", "iot:Nonsense")
    assert err.code == "InvalidRequestException"
    assert "endpointType" in err.message


def test_health_answers_without_a_signature(roost):
    with urllib.request.urlopen(roost.api_url + "/health", timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "ok"}


def test_an_unsigned_request_is_missing_authentication(roost):
    result = roost.aws_raw("list-things", "--no-sign-request")
    assert result.returncode != 0
    assert "MissingAuthenticationTokenException" in result.stderr
    try:
        urllib.request.urlopen(roost.api_url + "/things", timeout=10)
        raise AssertionError("an unsigned request was answered")
    except urllib.error.HTTPError as error:
        assert error.code == 403
        assert error.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
        assert json.loads(error.read())["__type"] == "MissingAuthenticationTokenException"


def test_an_unknown_access_key_is_unrecognized(roost):
    env = dict(roost.env, AWS_ACCESS_KEY_ID="AKIAUNKNOWNKEY000000")
    result = roost.aws_raw("list-things", env=env)
    assert result.returncode != 0
    assert "(UnrecognizedClientException)" in result.stderr


def test_a_wrong_secret_is_an_invalid_signature(roost):
    env = dict(roost.env, AWS_SECRET_ACCESS_KEY="not-the-secret")
    result = roost.aws_raw("list-things", env=env)
    assert result.returncode != 0
    assert "(InvalidSignatureException)" in result.stderr


def test_a_signature_for_another_region_is_invalid(roost):
    env = dict(roost.env, AWS_DEFAULT_REGION="eu-west-1", AWS_REGION="eu-west-1")
    result = roost.aws_raw("list-things", env=env)
    assert result.returncode != 0
    assert "(InvalidSignatureException)" in result.stderr
