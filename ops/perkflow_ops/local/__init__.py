"""The local stack behind ``perkflow local up``: template.yaml run on this machine without Docker.

Module map:
- stack: starts and stops everything below, prints the ready line (the body of ``local up``).
- dynamodb_local, moto_server, clients: the two emulators as child processes; boto3 clients bound to them.
- resources: the template's table, buses, queues, secrets and rules created there; the intrinsic Context.
- workers, worker, stats: a pool of worker processes per function; the process a worker runs; counters.
- http_router, http_server, control: API Gateway routing and payload 2.0; the server; /_local endpoints.
- bus, patterns: the template's EventBridge rules, matched and delivered in the AWS envelope.
- queues, streams, event_sources, schedules: SQS and DynamoDB stream event source mappings; schedules.
- sinks, clock, credentials, processes: outbound sinks, the shared clock, NAME=value settings, children.
- harness: ``start_stack`` for the tests, the demo and the bench.
"""
