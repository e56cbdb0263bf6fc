"""``perkflow local up``: the template's stack on this machine, from emulators to HTTP front door.

Start-up order: bind the API port (fail fast), start DynamoDB Local and moto in parallel and the sinks,
create the template's resources, then the function pools and everything that invokes them (bus
dispatcher, queue and stream pollers, schedule timers, the HTTP server). Stopping runs that in reverse,
so nothing is left behind; children die with the process even when it is killed (see processes.py).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perkflow_ops import template as tpl
from perkflow_ops.local import bus, credentials, queues, streams
from perkflow_ops.local.clients import ACCESS_KEY_ID, ACCOUNT, REGION, SECRET_ACCESS_KEY, Clients
from perkflow_ops.local.clock import StackClock
from perkflow_ops.local.control import Control
from perkflow_ops.local.dynamodb_local import DynamoDBLocal
from perkflow_ops.local.http_router import Router, new_api_id
from perkflow_ops.local.http_server import ApiServer
from perkflow_ops.local.moto_server import MotoServer
from perkflow_ops.local.resources import Resources, provision
from perkflow_ops.local.schedules import Scheduler, schedules_from_template
from perkflow_ops.local.sinks import SinkFactory, Sinks
from perkflow_ops.local.stats import Stats
from perkflow_ops.local.workers import Functions, FunctionSpec

log = logging.getLogger(__name__)

LOCAL_DIR = tpl.ROOT / ".local"
LOG_DIR = LOCAL_DIR / "logs"


@dataclass(frozen=True)
class LocalSettings:
    """$PERKFLOW_LOCAL_WORKERS, $PERKFLOW_LOCAL_RETRY_SECONDS, $PERKFLOW_LOCAL_TIMERS, $PERKFLOW_LOCAL_STREAMS.

    Streams off: nothing reads the table's streams, so nothing is published (the bench measures ingest alone
    that way, as in AWS, where what follows it runs on other machines).
    """

    workers: int = 4
    retry_seconds: float = 1.0
    timers: bool = True
    streams: bool = True

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> LocalSettings:
        settings = cls(
            workers=int(environ.get("PERKFLOW_LOCAL_WORKERS") or 4),
            retry_seconds=float(environ.get("PERKFLOW_LOCAL_RETRY_SECONDS") or 1),
            timers=environ.get("PERKFLOW_LOCAL_TIMERS", "on").strip().lower() != "off",
            streams=environ.get("PERKFLOW_LOCAL_STREAMS", "on").strip().lower() != "off",
        )
        if settings.workers < 1 or settings.retry_seconds < 0:
            raise ValueError("PERKFLOW_LOCAL_WORKERS must be at least 1 and PERKFLOW_LOCAL_RETRY_SECONDS not negative")
        return settings


class LocalStack:
    def __init__(
        self,
        template_path: Path = tpl.TEMPLATE,
        port: int = credentials.DEFAULT_PORT,
        environ: Mapping[str, str] | None = None,
        sink_factories: Mapping[str, SinkFactory] | None = None,
    ) -> None:
        self.template_path = template_path.resolve()
        self.port = port
        self.environ = dict(os.environ if environ is None else environ)
        self.sink_factories = sink_factories
        self.url = ""
        self.credentials: dict[str, str] = {}
        self._stoppers: list[Callable[[], None]] = []

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._stoppers:
            stopper = self._stoppers.pop()
            try:
                stopper()
            except Exception:
                log.exception("stopping %s failed", getattr(stopper, "__qualname__", stopper))

    def _start(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        settings = LocalSettings.of(self.environ)
        pool_size, retry_seconds = settings.workers, settings.retry_seconds
        template = tpl.load(self.template_path)
        server = ApiServer(self.port)
        self._stoppers.append(server.close)
        self.credentials = credentials.settings(server.port, self.environ)
        parameters = credentials.parameters(template, self.credentials, self.environ)

        dynamodb, moto = DynamoDBLocal(LOG_DIR), MotoServer(LOG_DIR)
        self._stoppers += [dynamodb.stop, moto.stop]
        _in_parallel(dynamodb.start, moto.start)
        sinks = Sinks(self.sink_factories)
        sinks.start()
        self._stoppers.append(sinks.stop)

        clients = Clients.connect(dynamodb.endpoint, moto.endpoint)
        context = tpl.Context(parameters=parameters, region=REGION, account=ACCOUNT)
        api_id = new_api_id()
        for logical_id in tpl.resources(template, "AWS::Serverless::HttpApi"):
            context.refs[logical_id] = api_id
        resources = provision(template, clients, context)

        endpoints = {"dynamodb": dynamodb.endpoint, "moto": moto.endpoint}
        specs = self._function_specs(template, context, endpoints, sinks.environment(self.environ))
        stats = Stats([spec.name for spec in specs])
        clock = StackClock()
        functions = Functions(specs, pool_size, LOG_DIR, clock.current, stats, retry_seconds)
        self._stoppers.append(functions.close)

        rules = bus.rules_from_template(template, resources, functions)
        # Tap the template's buses and any other a rule listens on (the default bus).
        buses = {*resources.buses.values(), *(rule.bus for rule in rules)}
        dispatcher = bus.Dispatcher(rules, sorted(buses), clients, functions, context)
        queue_pollers = queues.QueuePollers(
            queues.sources_from_template(template, resources, pool_size), clients, functions, REGION, retry_seconds
        )
        stream_pollers = streams.StreamPollers(
            streams.sources_from_template(template, resources), clients, functions, REGION, retry_seconds
        )
        scheduler = Scheduler(
            schedules_from_template(template, context), functions, context, lambda: clock.current().now()
        )
        dispatcher.start()
        queue_pollers.start()
        self._stoppers += [dispatcher.stop, queue_pollers.stop]
        if settings.streams:
            stream_pollers.start()
            self._stoppers.append(stream_pollers.stop)
        self._stoppers.append(scheduler.stop)
        if settings.timers:
            scheduler.start_timers()
        _warn_unserved(template)

        def describe() -> dict[str, Any]:
            return self._endpoints(server.url, endpoints, sinks, resources, specs)

        control = Control(clock, scheduler, sinks, stats, dispatcher, describe)
        server.serve(
            Router.from_template(template), functions, control, lambda: clock.current().now(), context.account, api_id
        )
        self._stoppers.append(server.shutdown)  # stops first: no new requests while the rest winds down
        self.url = server.url
        log.info("ready at %s with template %s", self.url, self.template_path)

    def _function_specs(
        self,
        template: Mapping[str, Any],
        context: tpl.Context,
        endpoints: Mapping[str, str],
        outbound: Mapping[str, str],
    ) -> list[FunctionSpec]:
        template_dir = self.template_path.parent
        layer_dirs = tpl.layer_dirs(template, template_dir)
        declared = tpl.functions(template)
        short_names = [function.short_name for function in declared]
        # The machine's settings pass through (PATH, HOME, PERKFLOW_OUT_* ...), its AWS settings never do.
        base = {name: value for name, value in self.environ.items() if not name.startswith("AWS_")}
        specs = []
        for function in declared:
            physical = context.ref(function.logical_id)
            variables = {name: str(value) for name, value in context.resolve(function.environment).items()}
            runtime = {
                "AWS_ENDPOINT_URL_DYNAMODB": endpoints["dynamodb"],
                "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": endpoints["dynamodb"],
                # botocore reads ..._EVENTBRIDGE (the service id); ..._EVENTS is the name people look for.
                "AWS_ENDPOINT_URL_EVENTS": endpoints["moto"],
                "AWS_ENDPOINT_URL_EVENTBRIDGE": endpoints["moto"],
                "AWS_ENDPOINT_URL_SQS": endpoints["moto"],
                "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoints["moto"],
                "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                # No profile of this machine may redirect or authorise a local call.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_LAMBDA_FUNCTION_NAME": physical,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{physical}",
                "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
                "TZ": ":UTC",
            }
            specs.append(
                FunctionSpec(
                    logical_id=function.logical_id,
                    name=function.short_name if short_names.count(function.short_name) == 1 else function.logical_id,
                    physical_name=physical,
                    arn=context.get_att(function.logical_id, "Arn"),
                    handler=function.handler,
                    code_dir=(template_dir / function.code_uri).resolve(),
                    layer_dirs=layer_dirs,
                    timeout=function.timeout,
                    memory_size=function.memory_size,
                    environment={**base, **variables, **outbound, **runtime},
                )
            )
        return specs

    @staticmethod
    def _endpoints(
        url: str, endpoints: Mapping[str, str], sinks: Sinks, resources: Resources, specs: list[FunctionSpec]
    ) -> dict[str, Any]:
        return {
            "api": url,
            "dynamodb": endpoints["dynamodb"],
            "dynamodbstreams": endpoints["dynamodb"],
            "events": endpoints["moto"],
            "sqs": endpoints["moto"],
            "secretsmanager": endpoints["moto"],
            "region": REGION,
            "account": resources.context.account,
            "sinks": sinks.urls(),
            "functions": {spec.name: spec.physical_name for spec in specs},
            **resources.describe(),
        }


_SERVED_EVENT_TYPES = {"HttpApi", "EventBridgeRule", "SQS", "DynamoDB", "Schedule", "ScheduleV2"}


def _warn_unserved(template: Mapping[str, Any]) -> None:
    for function in tpl.functions(template):
        for event in function.events:
            if event.type not in _SERVED_EVENT_TYPES:
                log.warning(
                    "%s.%s: events of type %s are not served locally", function.logical_id, event.name, event.type
                )


def _in_parallel(*steps: Callable[[], None]) -> None:
    """Run start-up steps at once (each waits on its own server); raise the first failure."""
    failures: list[BaseException] = []

    def run(step: Callable[[], None]) -> None:
        try:
            step()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def run(template_path: Path, port: int) -> int:
    """The body of ``perkflow local up``: start, print the ready line and settings, serve until a signal."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=LOG_DIR / "stack.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s",
    )
    # A background thread that dies says so in the log, not on the console of `make up`.
    threading.excepthook = lambda args: log.error(
        "thread %s died",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),  # type: ignore[arg-type]
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    stack = LocalStack(template_path, port)
    try:
        stack.start()
    except Exception as exc:
        log.exception("start-up failed")
        print(f"perkflow local up failed: {exc} (see {LOG_DIR.relative_to(tpl.ROOT)}/)", file=sys.stderr)
        return 1
    lines = [
        credentials.READY_LINE.format(url=stack.url),
        *(f"{name}={stack.credentials[name]}" for name in credentials.NAMES),
    ]
    print("\n".join(lines), flush=True)
    while not stop.wait(1):
        pass
    log.info("stopping")
    stack.stop()
    return 0
