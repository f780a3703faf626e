"""quiet_tensorflow drops TensorFlow's native log lines from standard error and passes every
other line through, in a real process that imports TensorFlow."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, sys, warnings
    import tfpipeline as tp
    if sys.argv[1] == "quiet":
        tp.quiet_tensorflow()
        import tensorflow as tf  # its start-up lines are dropped

        tf.constant(1.0) + 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tp.quiet_tensorflow()  # again, now that TensorFlow is loaded
        print(len(caught), caught[0].message if caught else "")
    os.write(2, b"I0000 00:00:1795977291.762156   26017 port.cc:153] a native log line\\n")
    os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: INT8\\n")
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
    os.write(2, b"a line of the user's C code\\n")
    print("a Python warning line", file=sys.stderr)
    """
)


def _run(mode):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=300
    )


def test_quiet_tensorflow_drops_native_log_lines_and_keeps_the_rest():
    quiet = _run("quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "a line of the user's C code\na Python warning line\n", quiet.stderr
    assert quiet.stdout.startswith("1 TensorFlow was imported before quiet_tensorflow()")


def test_without_it_the_native_lines_show():
    loud = _run("loud")
    assert "port.cc:153] a native log line" in loud.stderr
    assert "fully_quantize" in loud.stderr and "XNNPACK" in loud.stderr
