"""Topic rules and topic rule destinations through the real AWS CLI and boto3: the payload
echoed as given, paging and filters, tags, AWS's errors (UnauthorizedException for a missing
rule), and destinations with their confirmation URL open to a plain HTTP GET."""

from __future__ import annotations

import json
import time

import pytest

ROLE = "arn:aws:iam::123456789012:role/rules"


def republish(sql: str, topic: str = "out/${topic(2)}", **extra) -> dict:
    return {"sql": sql, "actions": [{"republish": {"topic": topic, "roleArn": ROLE, "qos": 1}}], **extra}


def rule_name(unique, kind: str = "r") -> str:
    """Rule names allow only letters, digits and underscores."""
    return unique(kind).replace("-", "_")


def write(tmp_path, name: str, payload: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(payload))
    return f"file://{path}"


# -- the rule lifecycle through the CLI --------------------------------------------------------


def test_a_rule_is_created_read_replaced_disabled_enabled_and_deleted(roost, tmp_path, unique):
    name = rule_name(unique)
    payload = republish(
        "SELECT temp, topic(2) AS device FROM 'sensors/+/telemetry' WHERE temp > 30",
        description="hot sensors",
        errorAction={"republish": {"topic": "errors/rules", "roleArn": ROLE}},
    )
    assert roost.aws(
        "create-topic-rule", "--rule-name", name,
        "--topic-rule-payload", write(tmp_path, name, payload),
        "--tags", "team=edge&env=test",
    ) == {}

    got = roost.aws("get-topic-rule", "--rule-name", name)
    arn = roost.arn("rule", name)
    assert got["ruleArn"] == arn
    rule = got["rule"]
    assert isinstance(rule["createdAt"], (int, float)) and rule["createdAt"] > 1e9
    assert rule == {
        **payload,
        "ruleName": name,
        "createdAt": rule["createdAt"],
        "ruleDisabled": False,
        "awsIotSqlVersion": "2015-10-08",
    }

    listed = roost.aws("list-topic-rules", "--topic", "sensors/+/telemetry")["rules"]
    item = next(r for r in listed if r["ruleName"] == name)
    assert item == {
        "ruleArn": arn,
        "ruleName": name,
        "topicPattern": "sensors/+/telemetry",
        "createdAt": rule["createdAt"],
        "ruleDisabled": False,
    }

    tags = roost.aws("list-tags-for-resource", "--resource-arn", arn)["tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [
        {"Key": "env", "Value": "test"}, {"Key": "team", "Value": "edge"},
    ]

    replacement = republish("SELECT * FROM 'other/#'", awsIotSqlVersion="2016-03-23")
    assert roost.aws(
        "replace-topic-rule", "--rule-name", name,
        "--topic-rule-payload", write(tmp_path, f"{name}-2", replacement),
    ) == {}
    replaced = roost.aws("get-topic-rule", "--rule-name", name)["rule"]
    assert replaced["sql"] == "SELECT * FROM 'other/#'"
    assert replaced["awsIotSqlVersion"] == "2016-03-23"
    assert "description" not in replaced and "errorAction" not in replaced
    assert replaced["createdAt"] == rule["createdAt"], "replacing keeps the creation time"

    roost.aws("disable-topic-rule", "--rule-name", name)
    assert roost.aws("get-topic-rule", "--rule-name", name)["rule"]["ruleDisabled"] is True
    disabled = roost.aws("list-topic-rules", "--rule-disabled", "--topic", "other/#")["rules"]
    assert [r["ruleName"] for r in disabled] == [name]
    roost.aws("enable-topic-rule", "--rule-name", name)
    assert roost.aws("get-topic-rule", "--rule-name", name)["rule"]["ruleDisabled"] is False

    roost.aws("delete-topic-rule", "--rule-name", name)
    error = roost.aws_error("get-topic-rule", "--rule-name", name)
    assert error.code == "UnauthorizedException"
    assert error.message == f"Access to topic rule '{name}' was denied"


def test_the_sql_version_beta_and_a_rule_created_disabled_are_echoed(iot, unique):
    name = rule_name(unique)
    iot.create_topic_rule(ruleName=name, topicRulePayload=republish(
        "SELECT VALUE [1, 2] FROM 'a/b'", awsIotSqlVersion="beta", ruleDisabled=True))
    rule = iot.get_topic_rule(ruleName=name)["rule"]
    assert rule["awsIotSqlVersion"] == "beta"
    assert rule["ruleDisabled"] is True


def test_rules_take_tags_through_tag_resource(iot, roost, unique):
    name = rule_name(unique)
    iot.create_topic_rule(ruleName=name, topicRulePayload=republish("SELECT * FROM 'x'"))
    arn = roost.arn("rule", name)
    iot.tag_resource(resourceArn=arn, tags=[{"Key": "k", "Value": "v"}])
    assert iot.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "k", "Value": "v"}]
    iot.delete_topic_rule(ruleName=name)
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.list_tags_for_resource(resourceArn=arn)


# -- listing -------------------------------------------------------------------------------------


@pytest.fixture
def three_rules(iot, unique):
    """Three rules on a topic of their own, the middle one disabled; their names, sorted."""
    topic = f"paging/{unique('t')}/#"
    names = sorted(rule_name(unique) for _ in range(3))
    for name in names:
        iot.create_topic_rule(ruleName=name, topicRulePayload=republish(f"SELECT * FROM '{topic}'"))
    iot.disable_topic_rule(ruleName=names[1])
    return topic, names


def test_rules_are_listed_a_page_at_a_time(iot, three_rules):
    _, names = three_rules
    seen, token = [], None
    while True:
        page = iot.list_topic_rules(maxResults=1, **({"nextToken": token} if token else {}))
        assert len(page["rules"]) <= 1
        seen += [r["ruleName"] for r in page["rules"]]
        token = page.get("nextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)), "no rule twice"
    assert [n for n in seen if n in names] == names, "by name, each once"

    paginated = iot.get_paginator("list_topic_rules").paginate(PaginationConfig={"PageSize": 1})
    assert [r["ruleName"] for page in paginated for r in page["rules"]] == seen


def test_rules_are_listed_by_topic_and_by_state(iot, roost, three_rules):
    topic, names = three_rules
    on_topic = iot.list_topic_rules(topic=topic)["rules"]
    assert [r["ruleName"] for r in on_topic] == names
    assert all(r["topicPattern"] == topic for r in on_topic)
    disabled = iot.list_topic_rules(topic=topic, ruleDisabled=True)["rules"]
    assert [r["ruleName"] for r in disabled] == [names[1]]
    enabled = iot.list_topic_rules(topic=topic, ruleDisabled=False)["rules"]
    assert [r["ruleName"] for r in enabled] == [names[0], names[2]]
    cli = roost.aws("list-topic-rules", "--topic", topic, "--no-rule-disabled", "--page-size", "1")
    assert [r["ruleName"] for r in cli["rules"]] == [names[0], names[2]]


def test_max_results_outside_the_model_is_invalid(roost):
    for size in ("0", "10001"):
        response = roost.raw("GET", f"/rules?maxResults={size}")
        assert response.status == 400 and response.error_type == "InvalidRequestException", response
    assert roost.raw("GET", "/rules?maxResults=10000").status == 200


# -- errors --------------------------------------------------------------------------------------


def client_error(excinfo):
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def test_sql_that_does_not_parse_is_a_sql_parse_exception_with_its_position(iot, roost, tmp_path, unique):
    with pytest.raises(iot.exceptions.SqlParseException) as excinfo:
        iot.create_topic_rule(ruleName=rule_name(unique), topicRulePayload=republish("SELECT FROM 'x'"))
    code, status, message = client_error(excinfo)
    assert status == 400
    assert message.startswith("line 1, column 8: "), message

    name = rule_name(unique)
    error = roost.aws_error(
        "create-topic-rule", "--rule-name", name,
        "--topic-rule-payload", write(tmp_path, name, republish("SELECT * FROM 'x' WHERE")),
    )
    assert error.code == "SqlParseException"
    assert "line 1, column" in error.message


def test_an_unsupported_action_is_refused_by_name(iot, unique):
    payload = {"sql": "SELECT * FROM 'x'", "actions": [
        {"republish": {"topic": "o", "roleArn": ROLE}},
        {"lambda": {"functionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}},
    ]}
    with pytest.raises(iot.exceptions.InvalidRequestException) as excinfo:
        iot.create_topic_rule(ruleName=rule_name(unique), topicRulePayload=payload)
    _, status, message = client_error(excinfo)
    assert status == 400
    assert message == (
        "actions[1]: the action 'lambda' is not supported by Roost; supported: republish, http"
    )


def test_an_action_with_two_members_is_refused(iot, unique):
    payload = {"sql": "SELECT * FROM 'x'", "actions": [{
        "republish": {"topic": "o", "roleArn": ROLE},
        "http": {"url": "https://example.com/hook"},
    }]}
    with pytest.raises(iot.exceptions.InvalidRequestException) as excinfo:
        iot.create_topic_rule(ruleName=rule_name(unique), topicRulePayload=payload)
    assert client_error(excinfo)[2] == "actions[0] must name exactly one action, found 2: republish, http"


def test_an_unknown_sql_version_and_a_bad_name_are_invalid(iot, unique):
    with pytest.raises(iot.exceptions.InvalidRequestException) as excinfo:
        iot.create_topic_rule(ruleName=rule_name(unique),
                              topicRulePayload=republish("SELECT * FROM 'x'", awsIotSqlVersion="2017-01-01"))
    assert "2017-01-01" in client_error(excinfo)[2]
    with pytest.raises(iot.exceptions.InvalidRequestException) as excinfo:
        iot.create_topic_rule(ruleName="has-dashes", topicRulePayload=republish("SELECT * FROM 'x'"))
    assert "'ruleName'" in client_error(excinfo)[2]


def test_a_missing_rule_is_unauthorized_for_every_operation(iot, unique):
    name = rule_name(unique, "ghost")
    calls = [
        lambda: iot.get_topic_rule(ruleName=name),
        lambda: iot.delete_topic_rule(ruleName=name),
        lambda: iot.enable_topic_rule(ruleName=name),
        lambda: iot.disable_topic_rule(ruleName=name),
        lambda: iot.replace_topic_rule(ruleName=name, topicRulePayload=republish("SELECT * FROM 'x'")),
    ]
    for call in calls:
        with pytest.raises(iot.exceptions.UnauthorizedException) as excinfo:
            call()
        assert client_error(excinfo)[1:] == (401, f"Access to topic rule '{name}' was denied")


def test_a_second_rule_of_the_same_name_already_exists(iot, roost, unique):
    name = rule_name(unique)
    iot.create_topic_rule(ruleName=name, topicRulePayload=republish("SELECT * FROM 'x'"))
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as excinfo:
        iot.create_topic_rule(ruleName=name, topicRulePayload=republish("SELECT * FROM 'y'"))
    assert client_error(excinfo)[1] == 409
    assert excinfo.value.response["resourceArn"] == roost.arn("rule", name)
    assert iot.get_topic_rule(ruleName=name)["rule"]["sql"] == "SELECT * FROM 'x'"


# -- destinations --------------------------------------------------------------------------------


def http_configuration(url: str) -> dict:
    return {"httpUrlConfiguration": {"confirmationUrl": url}}


def test_a_destination_is_created_read_listed_updated_and_deleted(iot, roost, unique):
    url = f"https://hooks.example.com/{unique('d')}"
    created = iot.create_topic_rule_destination(destinationConfiguration=http_configuration(url))
    destination = created["topicRuleDestination"]
    arn = destination["arn"]
    region = roost.exports["AWS_DEFAULT_REGION"]
    assert arn.startswith(f"arn:aws:iot:{region}:123456789012:ruledestination/http/")
    assert destination["status"] == "IN_PROGRESS"
    assert destination["httpUrlProperties"] == {"confirmationUrl": url}
    assert destination["createdAt"] and destination["lastUpdatedAt"]

    # The ARN travels in a greedy label: its slashes stay raw. The confirmation cannot reach
    # that host, so the destination ends in ERROR, saying why.
    deadline = time.monotonic() + 60
    while True:
        got = roost.aws("get-topic-rule-destination", "--arn", arn)["topicRuleDestination"]
        assert got["arn"] == arn
        if got["status"] == "ERROR":
            break
        assert got["status"] == "IN_PROGRESS" and time.monotonic() < deadline, got
        time.sleep(0.2)
    assert "hooks.example.com" in got["statusReason"], got

    summaries = [
        s for page in iot.get_paginator("list_topic_rule_destinations").paginate(PaginationConfig={"PageSize": 1})
        for s in page["destinationSummaries"]
    ]
    mine = next(s for s in summaries if s["arn"] == arn)
    assert mine["httpUrlSummary"] == {"confirmationUrl": url}
    assert mine["status"] == "ERROR"

    # Never confirmed: it cannot be enabled by hand; it can be challenged again.
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.update_topic_rule_destination(arn=arn, status="ENABLED")
    iot.update_topic_rule_destination(arn=arn, status="IN_PROGRESS")
    roost.aws("update-topic-rule-destination", "--arn", arn, "--status", "IN_PROGRESS")

    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException):
        iot.create_topic_rule_destination(destinationConfiguration=http_configuration(url))

    roost.aws("delete-topic-rule-destination", "--arn", arn)
    with pytest.raises(iot.exceptions.UnauthorizedException) as excinfo:
        iot.get_topic_rule_destination(arn=arn)
    assert client_error(excinfo)[1] == 401


def test_destination_inputs_are_checked(iot):
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_topic_rule_destination(destinationConfiguration=http_configuration("ftp://example.com"))
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.create_topic_rule_destination(destinationConfiguration={
            "vpcConfiguration": {"subnetIds": ["s"], "vpcId": "v", "roleArn": ROLE},
        })


def test_the_confirmation_url_answers_a_plain_get_without_a_signature(roost, iot):
    # A token no destination has: the route is reached (no MissingAuthenticationToken) and
    # refuses the token.
    response = roost.raw("GET", "/confirmdestination/0123456789abcdef", sign=False)
    assert response.status == 400, response
    assert response.error_type == "InvalidRequestException", response
    assert "confirmation token is not valid" in response.message
    with pytest.raises(iot.exceptions.InvalidRequestException):
        iot.confirm_topic_rule_destination(confirmationToken="0123456789abcdef")
    # Every other destination route still needs a signature.
    assert roost.raw("GET", "/destinations", sign=False).status == 403


def test_a_rule_with_an_http_action_creates_its_destination(iot, unique):
    url = f"http://127.0.0.1:9/{unique('hook')}"
    iot.create_topic_rule(ruleName=rule_name(unique), topicRulePayload={
        "sql": "SELECT * FROM 'in'",
        "actions": [{"http": {"url": f"{url}/${{topic()}}", "confirmationUrl": url,
                              "headers": [{"key": "x-device", "value": "${clientid()}"}]}}],
    })
    summaries = iot.list_topic_rule_destinations()["destinationSummaries"]
    mine = [s for s in summaries if s["httpUrlSummary"]["confirmationUrl"] == url]
    assert len(mine) == 1 and mine[0]["status"] == "IN_PROGRESS"
