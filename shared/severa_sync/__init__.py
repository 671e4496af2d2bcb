"""severa-sync: the Lambda layer.

Ports and adapters: ``engine`` knows nothing of SOAP or HTTP; ``severa`` is the source adapter,
``targets`` hold the Visma.net and S3 adapters, ``state`` the DynamoDB store, ``alerts`` the SNS
publisher. ``registry`` lists the data types that drive handlers, template and schedules.
"""

__version__ = "0.1.0"
