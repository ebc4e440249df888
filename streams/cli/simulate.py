"""``emc simulate``: realistic dossier lifecycles produced to any broker (and the thread that
``emc run`` uses for its simulated traffic)."""

from __future__ import annotations

import threading
import time

import click

from streams.cli.settings import load_settings


class SimulatorThread(threading.Thread):
    """Produces simulated lifecycles at a steady rate until stopped."""

    def __init__(
        self, bootstrap: str, rate: float, seed: int, time_scale: float, encoding: str
    ) -> None:
        super().__init__(name="simulator", daemon=True)
        from streams.core.registry import UnitRegistry, default_units_path
        from streams.kafka.produce import EventProducer
        from streams.traffic.simulate import LifecycleSimulator

        self.rate = rate
        self.sim = LifecycleSimulator(
            UnitRegistry.load(default_units_path()), seed=seed, time_scale=time_scale
        )
        self.producer = EventProducer(bootstrap, encoding=encoding)  # type: ignore[arg-type]
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            last = int(time.time() * 1000)
            while not self.stopping.wait(0.1):
                now = int(time.time() * 1000)
                self.producer.send_all(self.sim.events_between(last, now, self.rate))
                last = now
            self.producer.close()
        except BaseException as exc:  # reported by the caller
            self.error = exc


@click.command()
@click.option("--rate", type=float, default=200.0, show_default=True, help="Events per second.")
@click.option("--duration", type=float, default=None, help="Seconds to run (default: forever).")
@click.option("--bootstrap-servers", default=None, help="Default: EMC_KAFKA__BOOTSTRAP_SERVERS.")
@click.option(
    "--encoding", type=click.Choice(["json", "avro", "mixed"]), default="mixed", show_default=True
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Lifecycle durations multiplier (1 = real minutes-to-days).",
)
@click.option("--seed", type=int, default=0, show_default=True)
def simulate(
    rate: float,
    duration: float | None,
    bootstrap_servers: str | None,
    encoding: str,
    time_scale: float,
    seed: int,
) -> None:
    """Produce realistic dossier lifecycles for the registry's units to any broker."""
    bootstrap = bootstrap_servers or load_settings().kafka.bootstrap_servers
    sim = SimulatorThread(bootstrap, rate, seed, time_scale, encoding)
    sim.start()
    started = time.monotonic()
    try:
        while sim.is_alive() and (duration is None or time.monotonic() - started < duration):
            time.sleep(min(5.0, duration or 5.0))
            click.echo(f"sent {sim.producer.sent:,} events to {bootstrap}")
    except KeyboardInterrupt:
        pass
    sim.stopping.set()
    sim.join(30)
    if sim.error is not None:
        raise click.ClickException(f"simulator failed: {sim.error}")
    click.echo(f"done: {sim.producer.sent:,} events")
