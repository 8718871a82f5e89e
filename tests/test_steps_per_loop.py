"""--steps_per_loop: several steps per compiled call give the same run as one."""
import numpy as np
import pytest

from helpers import tiny_task, weights
from tfvidgen.train.loop import TrainConfig, Trainer


def _trained(model_dir, strategy, steps_per_loop):
    task, data = tiny_task("mocogan")
    config = TrainConfig(model_dir=str(model_dir), max_steps=6, batch_size=task.config.batch_size,
                         seed=3, summary_every=3, sample_every=6, checkpoint_every=100,
                         num_samples=2, steps_per_loop=steps_per_loop)
    trainer = Trainer(task, data, config, strategy)
    calls = []
    original = trainer._run_steps
    trainer._run_steps = lambda it, phase, n=1: calls.append(n) or original(it, phase, n)
    metrics = trainer.train()
    return trainer, metrics, calls


@pytest.mark.parametrize("replicas", [1, 2])
def test_three_steps_per_call_give_the_weights_of_one(replicas, tmp_path, cpu_strategy):
    strategy = cpu_strategy(replicas)
    one, metrics_one, calls_one = _trained(tmp_path / "one", strategy, 1)
    three, metrics_three, calls_three = _trained(tmp_path / "three", strategy, 3)
    assert calls_one == [1] * 6
    assert calls_three == [1, 2, 3]  # the first step takes the summary batch; ends at 3, 6
    assert one.current_step == three.current_step == 6
    for name, network in one.task.networks().items():
        for a, b in zip(weights(network), weights(three.task.networks()[name])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
    for key, value in metrics_one.items():
        np.testing.assert_allclose(metrics_three[key], value, rtol=1e-4, atol=1e-6)
