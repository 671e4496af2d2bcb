"""A deployed stack on moto: CloudFormation outputs named as template.yaml's, its resources real.

moto's CloudFormation creates the configuration seed parameter (like the template's) and answers
DescribeStacks; the operator's parameter is named in the outputs and, as in AWS, exists only after a
``config push``. The table, topic and bucket are created directly and named in outputs.
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
    parameter: str  # the operator's document (config push), not a CloudFormation resource
    seed: str  # the template's seed (ConfigParameter)
    table: str
    topic: str
    bucket: str
    queue_url: str  # subscribed to the topic: the alerts an operator would get by email

    def alerts(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def document(self, name: str | None = None) -> dict[str, Any]:
        ssm = boto3.client("ssm", region_name=REGION)
        return dict(ssm.get_parameter(Name=name or self.parameter)["Parameter"])

    def redeploy(self, seed: dict[str, Any]) -> None:
        """``sam deploy`` with a changed seed parameter: CloudFormation rewrites the seed resource."""
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        cloudformation.update_stack(StackName=self.name, TemplateBody=json.dumps(self.template(seed)))

    def template(self, seed: dict[str, Any]) -> dict[str, Any]:
        return {
            "Resources": {
                "ConfigParameter": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": self.seed, "Type": "String", "Value": json.dumps(seed)},
                }
            },
            "Outputs": {
                "ConfigParameterName": {"Value": self.parameter},
                "ConfigSeedParameterName": {"Value": {"Ref": "ConfigParameter"}},
                "Region": {"Value": {"Ref": "AWS::Region"}},
                "StateTableName": {"Value": self.table},
                "AlertTopicArn": {"Value": self.topic},
                "ExportBucketName": {"Value": self.bucket},
            },
        }


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
    stack = MotoStack(name, parameter, f"{parameter}-seed", table, topic, bucket, queue_url)
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(stack.template(seed or SEED)))
    return stack
