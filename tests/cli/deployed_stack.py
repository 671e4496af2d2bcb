"""A deployed stack on moto: CloudFormation outputs named as template.yaml's, its resources real.

moto's CloudFormation creates the configuration parameter (seeded like the template's) and
answers DescribeStacks; the table, topic and bucket are created directly and named in outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from severa_sync.state.table import create_state_table

REGION = "eu-west-1"
SEED = {
    "tenant": "acme",
    "stage": "local",
    "severa": {"url": "http://127.0.0.1:9/API.svc", "api_key_secret": "acme/severa-api-key"},
    "visma": {"company_tenant_id": "acme-company", "client_secret_secret": "acme/visma-client-secret"},
    "export_prefix": "exports",
}


@dataclass
class MotoStack:
    name: str
    parameter: str
    table: str
    topic: str
    bucket: str
    queue_url: str  # subscribed to the topic: the alerts an operator would get by email

    def alerts(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def document(self) -> dict[str, Any]:
        ssm = boto3.client("ssm", region_name=REGION)
        return dict(ssm.get_parameter(Name=self.parameter)["Parameter"])


def create_stack(name: str = "severa-sync-acme-test", seed: dict[str, Any] | None = None) -> MotoStack:
    table, bucket = f"{name}-state", f"{name}-exports"
    create_state_table(boto3.client("dynamodb", region_name=REGION), table)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name=f"{name}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"}
    )
    parameter = f"/severa-sync/{name}/config"
    template = {
        "Resources": {
            "ConfigParameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": parameter, "Type": "String", "Value": json.dumps(seed or SEED)},
            }
        },
        "Outputs": {
            "ConfigParameterName": {"Value": {"Ref": "ConfigParameter"}},
            "Region": {"Value": {"Ref": "AWS::Region"}},
            "StateTableName": {"Value": table},
            "AlertTopicArn": {"Value": topic},
            "ExportBucketName": {"Value": bucket},
        },
    }
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    return MotoStack(name, parameter, table, topic, bucket, queue_url)
