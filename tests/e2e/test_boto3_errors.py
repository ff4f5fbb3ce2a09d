"""Every error type Roost emits, provoked through boto3: the exception class boto3 raises
(`client.exceptions.<Type>`, which botocore picks from `x-amzn-ErrorType`) and the HTTP
status of the botocore model."""

from __future__ import annotations

import json

import botocore
import botocore.config
import botocore.exceptions
import pytest

import certs

POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
)


@pytest.fixture(scope="module")
def setup(roost, tmp_path_factory):
    """Resources the provocations need."""
    iot = roost.client()
    work = tmp_path_factory.mktemp("boto3-errors")
    s = {"work": work}
    iot.create_policy(policyName="attached", policyDocument=POLICY)
    cert = iot.create_keys_and_certificate(setAsActive=True)
    s["cert_id"], s["cert_arn"] = cert["certificateId"], cert["certificateArn"]
    iot.attach_policy(policyName="attached", target=s["cert_arn"])
    iot.create_thing(thingName="versioned")
    iot.update_thing(thingName="versioned", attributePayload={"attributes": {"a": "1"}})
    iot.create_policy(policyName="full", policyDocument=POLICY)
    for _ in range(4):
        iot.create_policy_version(policyName="full", policyDocument=POLICY)
    for i in range(9):  # with "attached", ten: the most a target may have
        iot.create_policy(policyName=f"many{i}", policyDocument=POLICY)
        iot.attach_policy(policyName=f"many{i}", target=s["cert_arn"])
    iot.create_policy(policyName="eleventh", policyDocument=POLICY)

    # Two registered CAs with the same subject and key (a re-issued root): a leaf they both
    # could have signed is ambiguous without caCertificatePem.
    root = certs.root_ca(work / "twins", subj="/O=Roost Tests/CN=Twin Root")
    certs.openssl("req", "-x509", "-new", "-nodes", "-key", str(root.key), "-sha256", "-days", "365",
                  "-out", "rootCA-reissued.pem", "-subj", "/O=Roost Tests/CN=Twin Root", cwd=work / "twins")
    for pem in (root.pem, (work / "twins" / "rootCA-reissued.pem").read_text()):
        iot.register_ca_certificate(caCertificate=pem, certificateMode="SNI_ONLY", setAsActive=True)
    s["ambiguous_leaf"] = certs.signed_by(root, work / "twins", "leaf", "/CN=ambiguous").pem
    s["other_ca"] = certs.root_ca(work / "other", subj="/O=Roost Tests/CN=Lonely CA")
    return s


def modeled(iot, setup):
    """(error type, HTTP status, the call that provokes it) for every modeled type Roost emits."""

    def registration_code_mismatch():
        verification = certs.verification_cert(setup["other_ca"], setup["work"] / "other", "0" * 64)
        iot.get_registration_code()
        iot.register_ca_certificate(caCertificate=setup["other_ca"].pem,
                                    verificationCertificate=verification.pem)

    return [
        ("InvalidRequestException", 400, lambda: iot.describe_thing(thingName="bad name")),
        ("ResourceNotFoundException", 404, lambda: iot.describe_thing(thingName="missing")),
        ("ResourceAlreadyExistsException", 409, lambda: iot.create_policy(policyName="attached",
                                                                          policyDocument=POLICY)),
        ("DeleteConflictException", 409, lambda: iot.delete_policy(policyName="attached")),
        ("VersionConflictException", 409, lambda: iot.update_thing(thingName="versioned", expectedVersion=1)),
        ("CertificateStateException", 406, lambda: iot.delete_certificate(certificateId=setup["cert_id"])),
        ("CertificateValidationException", 400, lambda: iot.register_certificate_without_ca(
            certificatePem="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
        ("CertificateConflictException", 409, lambda: iot.register_certificate(
            certificatePem=setup["ambiguous_leaf"])),
        ("RegistrationCodeValidationException", 400, registration_code_mismatch),
        ("MalformedPolicyException", 400, lambda: iot.create_policy(policyName="bad", policyDocument="{")),
        ("VersionsLimitExceededException", 409, lambda: iot.create_policy_version(
            policyName="full", policyDocument=POLICY)),
        ("LimitExceededException", 410, lambda: iot.attach_policy(policyName="eleventh",
                                                                  target=setup["cert_arn"])),
    ]


TYPES = [
    "InvalidRequestException", "ResourceNotFoundException", "ResourceAlreadyExistsException",
    "DeleteConflictException", "VersionConflictException", "CertificateStateException",
    "CertificateValidationException", "CertificateConflictException", "RegistrationCodeValidationException",
    "MalformedPolicyException", "VersionsLimitExceededException", "LimitExceededException",
]


@pytest.mark.parametrize("error_type", TYPES)
def test_each_modeled_error_raises_its_boto3_exception_class(roost, setup, error_type):
    # Exception classes belong to a client: provoke and catch with the same one.
    iot = roost.client()
    cases = {name: (status, call) for name, status, call in modeled(iot, setup)}
    status, call = cases[error_type]
    expected = getattr(iot.exceptions, error_type)
    with pytest.raises(expected) as raised:
        call()
    response = raised.value.response
    assert response["Error"]["Code"] == error_type
    assert response["Error"]["Message"], "a message that says what to fix"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == f"{error_type}:"
    assert response["ResponseMetadata"]["RequestId"]


def test_resource_already_exists_carries_the_resource_id_and_arn(roost, setup):
    iot = roost.client()
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as raised:
        iot.create_policy(policyName="attached", policyDocument=POLICY)
    assert raised.value.response["resourceId"] == "attached"
    assert raised.value.response["resourceArn"] == roost.arn("policy", "attached")


@pytest.mark.parametrize("error_type,client_args", [
    ("MissingAuthenticationTokenException", {"config": botocore.config.Config(
        signature_version=botocore.UNSIGNED, retries={"max_attempts": 1})}),
    ("UnrecognizedClientException", {"aws_access_key_id": "AKIAUNKNOWN000000000"}),
    ("InvalidSignatureException", {"aws_secret_access_key": "wrong-secret"}),
    ("InvalidSignatureException", {"region_name": "ap-south-1"}),
])
def test_authentication_failures_are_403_with_the_aws_type(roost, error_type, client_args):
    iot = roost.client(**client_args)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        iot.list_things()
    response = raised.value.response
    assert response["Error"]["Code"] == error_type
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == f"{error_type}:"


def test_a_malformed_authorization_header_is_an_incomplete_signature(roost):
    response = roost.raw("GET", "/things", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=nonsense"},
                         sign=False)
    assert response.status == 403
    assert response.error_type == "IncompleteSignatureException"


def test_authentication_is_checked_before_the_route(roost):
    response = roost.raw("GET", "/things/missing", sign=False)
    assert response.status == 403 and response.error_type == "MissingAuthenticationTokenException"
    response = roost.raw("DELETE", "/policies/attached", sign=False)
    assert response.status == 403
    assert roost.client().get_policy(policyName="attached")
