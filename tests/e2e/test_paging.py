"""Every list operation pages as the botocore model says (marker/pageSize → nextMarker, or
nextToken/maxResults → nextToken), so that the CLI's automatic paging (`--page-size`) and
`--max-items`/`--starting-token` give exactly the unpaged list.

AWS CLI v1 quirk: for the marker/pageSize operations the model's own `pageSize` member and the
CLI's `--page-size` share a name, and the CLI then takes `--page-size` for a manual paging
argument and turns automatic paging off (it prints the first page and its `nextMarker`, against
AWS too). For those, automatic paging is tested with the CLI over more than one default page
(25), and page by page with botocore's paginator (the code the CLI runs) at page size 1."""

from __future__ import annotations

import json

import pytest

import certs

N = 5
# More than one default page (25) of the marker/pageSize lists.
MANY = 27
POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}
)


@pytest.fixture(scope="module")
def world(roost, tmp_path_factory):
    """N of everything, on the module's own server; returns the names and ARNs made."""
    iot = roost.client()
    work = tmp_path_factory.mktemp("paging-certs")
    w = {}
    iot.create_thing_type(thingTypeName="pagetype")
    for i in range(1, N):
        iot.create_thing_type(thingTypeName=f"pagetype{i}")
    w["things"] = [f"thing{i}" for i in range(N)]
    for name in w["things"]:
        iot.create_thing(thingName=name, thingTypeName="pagetype",
                         attributePayload={"attributes": {"fleet": "f1", "n": name}})
    iot.create_thing_group(thingGroupName="top")
    w["groups"] = [f"group{i}" for i in range(N)]
    for name in w["groups"]:
        iot.create_thing_group(thingGroupName=name, parentGroupName="top")
    for name in w["things"]:
        for group in w["groups"]:
            iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)
    w["billing"] = [f"billing{i}" for i in range(N)]
    for name in w["billing"]:
        iot.create_billing_group(billingGroupName=name)
    for name in w["things"]:
        iot.add_thing_to_billing_group(billingGroupName="billing0", thingName=name)

    w["certs"] = [iot.create_keys_and_certificate()["certificateArn"] for _ in range(N)]
    w["policies"] = [f"policy{i}" for i in range(N)]
    for name in w["policies"]:
        iot.create_policy(policyName=name, policyDocument=POLICY)
        iot.attach_policy(policyName=name, target=w["certs"][0])
        iot.attach_policy(policyName=name, target=roost.arn("thinggroup", "top"))
    for arn in w["certs"]:
        iot.attach_policy(policyName="policy0", target=arn)
        iot.attach_thing_principal(thingName="thing0", principal=arn)
        iot.attach_thing_principal(thingName="thing1", principal=arn)
    for name in w["things"]:
        iot.attach_thing_principal(thingName=name, principal=w["certs"][0])

    w["cas"] = []
    for i in range(N):
        ca = certs.root_ca(work / f"ca{i}", subj=f"/O=Roost Tests/CN=Paging CA {i}")
        out = iot.register_ca_certificate(caCertificate=ca.pem, certificateMode="SNI_ONLY", setAsActive=True)
        w["cas"].append(out["certificateId"])
        if i == 0:
            first_ca = ca
    w["ca_certs"] = []
    for i in range(N):
        leaf = certs.signed_by(first_ca, work / "leaves", f"leaf{i}", f"/CN=leaf{i}")
        w["ca_certs"].append(iot.register_certificate(certificatePem=leaf.pem)["certificateId"])
    w["many_certs"] = [iot.create_keys_and_certificate()["certificateArn"] for _ in range(MANY)]
    iot.create_policy(policyName="widely-attached", policyDocument=POLICY)
    for arn in w["many_certs"]:
        iot.attach_policy(policyName="widely-attached", target=arn)
    for i in range(MANY):
        iot.create_policy(policyName=f"many{i:02}", policyDocument=POLICY)
    iot.tag_resource(resourceArn=roost.arn("thing", "thing0"),
                     tags=[{"Key": f"tag{i}", "Value": "v"} for i in range(N)])
    return w


# (CLI arguments, result key, the value compared, the botocore operation and its arguments)
MARKER_LISTS = [
    (["list-certificates"], "certificates", "certificateId", "list_certificates", {}),
    (["list-certificates", "--ascending-order"], "certificates", "certificateId", "list_certificates",
     {"ascendingOrder": True}),
    (["list-ca-certificates"], "certificates", "certificateId", "list_ca_certificates", {}),
    (["list-certificates-by-ca", "--ca-certificate-id", "{ca0}"], "certificates", "certificateId",
     "list_certificates_by_ca", {"caCertificateId": "{ca0}"}),
    (["list-policies"], "policies", "policyName", "list_policies", {}),
    (["list-attached-policies", "--target", "{cert0}"], "policies", "policyName", "list_attached_policies",
     {"target": "{cert0}"}),
    (["list-attached-policies", "--target", "{group0}", "--recursive"], "policies", "policyName",
     "list_attached_policies", {"target": "{group0}", "recursive": True}),
    (["list-targets-for-policy", "--policy-name", "policy0"], "targets", None, "list_targets_for_policy",
     {"policyName": "policy0"}),
    (["list-principal-policies", "--principal", "{cert0}"], "policies", "policyName",
     "list_principal_policies", {"principal": "{cert0}"}),
    (["list-policy-principals", "--policy-name", "policy0"], "principals", None, "list_policy_principals",
     {"policyName": "policy0"}),
]

TOKEN_LISTS = [
    (["list-things"], "things", "thingName"),
    (["list-things", "--attribute-name", "fleet", "--attribute-value", "f1"], "things", "thingName"),
    (["list-things", "--thing-type-name", "pagetype"], "things", "thingName"),
    (["list-thing-types"], "thingTypes", "thingTypeName"),
    (["list-thing-groups"], "thingGroups", "groupName"),
    (["list-thing-groups", "--parent-group", "top"], "thingGroups", "groupName"),
    (["list-things-in-thing-group", "--thing-group-name", "group0"], "things", None),
    (["list-things-in-thing-group", "--thing-group-name", "top", "--recursive"], "things", None),
    (["list-thing-groups-for-thing", "--thing-name", "thing0"], "thingGroups", "groupName"),
    (["list-billing-groups"], "billingGroups", "groupName"),
    (["list-things-in-billing-group", "--billing-group-name", "billing0"], "things", None),
    (["list-thing-principals", "--thing-name", "thing0"], "principals", None),
    (["list-thing-principals-v2", "--thing-name", "thing0"], "thingPrincipalObjects", "principal"),
    (["list-principal-things", "--principal", "{cert0}"], "things", None),
    (["list-principal-things-v2", "--principal", "{cert0}"], "principalThingObjects", "thingName"),
]

ALL_LISTS = [entry[:3] for entry in MARKER_LISTS] + TOKEN_LISTS


def expand(roost, world, args):
    return [a.format(**values(roost, world)) for a in args]


def keys(items, field):
    return [item[field] if field else item for item in items]


def values(roost, world):
    return {
        "ca0": world["cas"][0],
        "cert0": world["certs"][0],
        "group0": roost.arn("thinggroup", "group0"),
    }


@pytest.mark.parametrize("args,result,field", TOKEN_LISTS, ids=[" ".join(a) for a, _, _ in TOKEN_LISTS])
def test_page_size_one_gives_the_whole_list(roost, world, args, result, field):
    args = expand(roost, world, args)
    whole = keys(roost.aws(*args, "--no-paginate")[result], field)
    assert len(whole) >= N, f"the fixture should have made {N} items: {whole}"
    assert len(set(map(str, whole))) == len(whole), "no duplicates"

    paged = keys(roost.aws(*args, "--page-size", "1")[result], field)
    assert paged == whole


@pytest.mark.parametrize(
    "args,result,field,operation,params", MARKER_LISTS, ids=[" ".join(e[0]) for e in MARKER_LISTS]
)
def test_the_paginator_at_page_size_one_gives_the_whole_list(roost, world, args, result, field, operation,
                                                             params):
    whole = keys(roost.aws(*expand(roost, world, args))[result], field)
    assert len(whole) >= N, f"the fixture should have made {N} items: {whole}"
    assert len(set(map(str, whole))) == len(whole), "no duplicates"

    iot = roost.client()
    filled = {k: v.format(**values(roost, world)) if isinstance(v, str) else v for k, v in params.items()}
    pages = list(iot.get_paginator(operation).paginate(**filled, PaginationConfig={"PageSize": 1}))
    assert len(pages) >= len(whole)
    assert [item for page in pages for item in keys(page[result], field)] == whole


MORE_THAN_A_PAGE = [
    (["list-certificates"], "certificates", "certificateId", "list_certificates", {}),
    (["list-policies"], "policies", "policyName", "list_policies", {}),
    (["list-targets-for-policy", "--policy-name", "widely-attached"], "targets", None,
     "list_targets_for_policy", {"policyName": "widely-attached"}),
    (["list-policy-principals", "--policy-name", "widely-attached"], "principals", None,
     "list_policy_principals", {"policyName": "widely-attached"}),
]


@pytest.mark.parametrize(
    "args,result,field,operation,params", MORE_THAN_A_PAGE, ids=[" ".join(e[0]) for e in MORE_THAN_A_PAGE]
)
def test_the_cli_pages_through_more_than_one_default_page(roost, world, args, result, field, operation,
                                                          params):
    first = getattr(roost.client(), operation)(**params)
    assert len(first[result]) == 25 and first["nextMarker"], "the default page holds 25"
    whole = keys(roost.aws(*args)[result], field)
    assert len(whole) > 25
    assert len(set(map(str, whole))) == len(whole)
    if operation == "list_targets_for_policy":
        assert sorted(whole) == sorted(world["many_certs"])


@pytest.mark.parametrize("args,result,field", ALL_LISTS, ids=[" ".join(a) for a, _, _ in ALL_LISTS])
def test_max_items_and_starting_token_resume_where_the_last_page_ended(roost, world, args, result, field):
    args = expand(roost, world, args)
    whole = keys(roost.aws(*args)[result], field)

    first = roost.aws(*args, "--max-items", "2")
    assert keys(first[result], field) == whole[:2]
    assert first["NextToken"]
    second = roost.aws(*args, "--starting-token", first["NextToken"], "--max-items", "2")
    assert keys(second[result], field) == whole[2:4]
    rest = roost.aws(*args, "--starting-token", second["NextToken"])
    assert keys(rest[result], field) == whole[4:]
    assert "NextToken" not in rest


def test_a_small_page_carries_the_token_of_the_next_one(roost, world):
    iot = roost.client()
    page = iot.list_things(maxResults=2)
    assert len(page["things"]) == 2 and page["nextToken"]
    seen = [t["thingName"] for t in page["things"]]
    while "nextToken" in page:
        page = iot.list_things(maxResults=2, nextToken=page["nextToken"])
        seen += [t["thingName"] for t in page["things"]]
    assert seen == sorted(world["things"])

    page = iot.list_certificates(pageSize=2)
    assert len(page["certificates"]) == 2 and page["nextMarker"]
    exact = iot.list_attached_policies(target=world["certs"][0], pageSize=N)
    assert len(exact["policies"]) == N and "nextMarker" not in exact, "a full last page has no marker"


def test_list_certificates_is_newest_first_unless_ascending(roost, world):
    iot = roost.client()
    descending = [c["certificateId"] for c in iot.list_certificates(pageSize=250)["certificates"]]
    ascending = [c["certificateId"] for c in iot.list_certificates(pageSize=250, ascendingOrder=True)["certificates"]]
    assert descending == list(reversed(ascending))
    dates = [c["creationDate"] for c in iot.list_certificates(pageSize=250)["certificates"]]
    assert dates == sorted(dates, reverse=True)


def test_page_sizes_outside_the_model_and_foreign_tokens_are_invalid(roost, world):
    for args in (
        ("list-things", "--max-results", "251"),
        ("list-certificates", "--page-size", "300", "--no-paginate"),
        ("list-things", "--next-token", "not-a-token"),
        ("list-policies", "--marker", "zzzz", "--no-paginate"),
    ):
        err = roost.aws_error(*args)
        assert err.code == "InvalidRequestException", args
