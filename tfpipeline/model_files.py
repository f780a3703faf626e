"""Checks a model file before anything loads it: model files are data, never code.

A SavedModel is a program: `tf.saved_model.load` builds its graphs, and running them runs
every op they hold, `ReadFile` and `WriteFile` included. A `.keras` file names the Python
modules its classes come from, and tf_keras imports them, even in safe mode, before it can
refuse anything. So a SavedModel's ops are read from `saved_model.pb` without loading it and
checked against an allow-list of pure computation, and a `.keras` file's `config.json` is
read from the zip and every module it names checked, before anything is imported.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from tfpipeline.errors import UnsupportedModelError

MAX_SAVED_MODEL_BYTES = 512 * 2**20
MAX_KERAS_CONFIG_BYTES = 16 * 2**20

# Ops of pure computation: math, neural-network, array, shape, random, control flow
# (function calls, conditions, loops), variables and resources held in memory, tensor lists,
# plain string conversions.
# Nothing that reads or writes files, runs Python, starts processes, talks to the network,
# reads datasets or writes summaries belongs here; such ops are refused by being absent.
ALLOWED_OPS = frozenset(
    {
        "Abs", "Acos", "Acosh", "Add", "AddN", "AddV2", "All", "Any", "ApproximateEqual", "ArgMax",
        "ArgMin", "AsString", "Asin", "Asinh", "Assert", "Assign", "AssignAdd",
        "AssignAddVariableOp", "AssignSub", "AssignSubVariableOp", "AssignVariableOp", "Atan",
        "Atan2", "Atanh", "AvgPool", "AvgPool3D", "AvgPoolGrad", "BatchMatMul", "BatchMatMulV2",
        "BatchMatMulV3", "BatchToSpaceND", "BiasAdd", "BiasAddGrad", "BiasAddV1", "Bitcast",
        "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BroadcastArgs", "BroadcastGradientArgs",
        "BroadcastTo", "Bucketize", "Case", "Cast", "Ceil", "CheckNumerics", "CheckNumericsV2",
        "ClipByValue", "Complex", "ComplexAbs", "Concat", "ConcatOffset", "ConcatV2", "Conj",
        "Const", "ControlTrigger", "Conv", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput",
        "Conv3D", "Conv3DBackpropInputV2", "Cos", "Cosh", "CropAndResize", "Cross", "CudnnRNN",
        "CudnnRNNBackprop", "CudnnRNNBackpropV2", "CudnnRNNBackpropV3",
        "CudnnRNNCanonicalToParams", "CudnnRNNParamsToCanonical", "CudnnRNNV2", "CudnnRNNV3",
        "Cumprod", "Cumsum", "DepthToSpace", "DepthwiseConv2dNative",
        "DepthwiseConv2dNativeBackpropFilter", "DepthwiseConv2dNativeBackpropInput", "Dequantize",
        "DestroyResourceOp", "Diag", "DiagPart", "Digamma", "Dilation2D", "DisableCopyOnRead",
        "Div", "DivNoNan", "DynamicStitch", "Einsum", "Elu", "EluGrad", "EmptyTensorList",
        "EnsureShape", "Enter", "Equal", "Erf", "Erfc", "Exit", "Exp", "ExpandDims", "Expm1",
        "ExtractImagePatches", "FFT", "FFT2D", "FakeQuantWithMinMaxArgs",
        "FakeQuantWithMinMaxArgsGradient", "FakeQuantWithMinMaxVars",
        "FakeQuantWithMinMaxVarsGradient", "FakeQuantWithMinMaxVarsPerChannel",
        "FakeQuantWithMinMaxVarsPerChannelGradient", "Fill", "Floor", "FloorDiv", "FloorMod",
        "FusedBatchNorm", "FusedBatchNormGrad", "FusedBatchNormGradV2", "FusedBatchNormGradV3",
        "FusedBatchNormV2", "FusedBatchNormV3", "Gather", "GatherNd", "GatherV2", "Greater",
        "GreaterEqual", "GuaranteeConst", "HistogramFixedWidth", "IFFT", "IFFT2D", "IRFFT",
        "Identity", "IdentityN", "If", "Imag", "InTopKV2", "InvertPermutation", "IsFinite",
        "IsInf", "IsNan", "L2Loss", "LRN", "LeakyRelu", "LeakyReluGrad", "LeftShift", "Less",
        "LessEqual", "Lgamma", "LinSpace", "Log", "Log1p", "LogSoftmax", "LogicalAnd",
        "LogicalNot", "LogicalOr", "LoopCond", "MatMul", "MatrixBandPart", "MatrixDiag",
        "MatrixDiagPart", "MatrixDiagPartV3", "MatrixDiagV3", "MatrixSetDiag", "MatrixSetDiagV3",
        "Max", "MaxPool", "MaxPool3D", "MaxPoolGrad", "MaxPoolV2", "MaxPoolWithArgmax", "Maximum",
        "Mean", "Merge", "Min", "Minimum", "MirrorPad", "Mod", "Mul", "MulNoNan", "Multinomial",
        "Ndtri", "Neg", "NextAfter", "NextIteration", "NoOp", "NonMaxSuppressionV3",
        "NonMaxSuppressionV4", "NonMaxSuppressionV5", "NotEqual", "OneHot", "OnesLike",
        "OptionalFromValue", "OptionalGetValue", "OptionalHasValue", "OptionalNone", "Pack", "Pad",
        "PadV2", "ParallelConcat", "PartitionedCall", "Placeholder", "PlaceholderWithDefault",
        "Pow", "PreventGradient", "Prod", "QuantizeAndDequantizeV2", "QuantizeAndDequantizeV3",
        "QuantizeAndDequantizeV4", "QuantizeV2", "RFFT", "RFFT2D", "RandomGamma", "RandomShuffle",
        "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "Range", "Rank",
        "ReadVariableOp", "Real", "RealDiv", "Reciprocal", "ReciprocalGrad", "Relu", "Relu6",
        "Relu6Grad", "ReluGrad", "Reshape", "ResizeArea", "ResizeBicubic", "ResizeBilinear",
        "ResizeBilinearGrad", "ResizeNearestNeighbor", "ResizeNearestNeighborGrad",
        "ResourceGather", "ResourceGatherNd", "ResourceScatterAdd", "ResourceScatterNdUpdate",
        "ResourceScatterUpdate", "ResourceStridedSliceAssign", "ReverseSequence", "ReverseV2",
        "RightShift", "Rint", "RngReadAndSkip", "RngSkip", "Roll", "Round", "Rsqrt", "RsqrtGrad",
        "ScatterNd", "Select", "SelectV2", "Selu", "SeluGrad", "Shape", "ShapeN", "Sigmoid",
        "SigmoidGrad", "Sign", "Sin", "Sinh", "Size", "Slice", "Snapshot", "Softmax",
        "SoftmaxCrossEntropyWithLogits", "Softplus", "SoftplusGrad", "Softsign", "SoftsignGrad",
        "SpaceToBatchND", "SpaceToDepth", "SparseSoftmaxCrossEntropyWithLogits", "Split", "SplitV",
        "Sqrt", "SqrtGrad", "Square", "SquaredDifference", "Squeeze", "StatefulPartitionedCall",
        "StatelessCase", "StatelessIf", "StatelessMultinomial", "StatelessRandomGetAlg",
        "StatelessRandomGetKeyCounter", "StatelessRandomGetKeyCounterAlg", "StatelessRandomNormal",
        "StatelessRandomNormalV2", "StatelessRandomUniform", "StatelessRandomUniformFullIntV2",
        "StatelessRandomUniformIntV2", "StatelessRandomUniformV2", "StatelessTruncatedNormal",
        "StatelessTruncatedNormalV2", "StatelessWhile", "StopGradient", "StridedSlice",
        "StridedSliceGrad", "StringLength", "StringLower", "StringStrip", "StringToHashBucketFast",
        "StringToNumber", "StringUpper", "Sub", "Substr", "Sum", "Switch", "Tan", "Tanh",
        "TanhGrad", "TensorListConcatV2", "TensorListElementShape", "TensorListFromTensor",
        "TensorListGather", "TensorListGetItem", "TensorListLength", "TensorListPopBack",
        "TensorListPushBack", "TensorListReserve", "TensorListResize",
        "TensorListScatterIntoExistingList", "TensorListScatterV2", "TensorListSetItem",
        "TensorListSplit", "TensorListStack", "TensorScatterAdd", "TensorScatterUpdate", "Tile",
        "TopKV2", "Transpose", "TruncateDiv", "TruncateMod", "TruncatedNormal", "Unique", "Unpack",
        "UnsortedSegmentMax", "UnsortedSegmentMin", "UnsortedSegmentSum", "VarHandleOp",
        "VarIsInitializedOp", "VariableShape", "VariableV2", "Where", "While", "Xdivy", "Xlog1py",
        "Xlogy", "ZerosLike", "Zeta",
    }
)  # fmt: skip

# The modules a `.keras` config may name: tf_keras (which writes `keras.*` and imports it as
# `tf_keras.*`), TensorFlow's Keras names, TFMOT's Keras wrappers (pruning, QAT,
# clustering) and this package's module of registered classes. A private module (a part
# starting with `_`, such as `tfpipeline.__main__`) is never accepted.
KERAS_MODULES = (
    "keras",
    "tensorflow.keras",
    "tensorflow.python.keras",
    "tensorflow_model_optimization.python.core.clustering.keras",
    "tensorflow_model_optimization.python.core.quantization.keras",
    "tensorflow_model_optimization.python.core.sparsity.keras",
    "tf_keras",
    "tfpipeline.audio_frontend",
    "tfpipeline.optimizers",
    "tfpipeline.text_models",
)

# Ops a SavedModel's checkpoint functions hold (writing and reading its own variables).
# Allowed only in functions that nothing but the saver (`saver_def`) calls.
CHECKPOINT_OPS = frozenset(
    {
        "MergeV2Checkpoints",
        "RestoreV2",
        "SaveV2",
        "ShardedFilename",
        "StaticRegexFullMatch",
        "StringJoin",
    }
)


def check_saved_model(folder: str | Path) -> None:
    """Refuses a SavedModel folder whose graphs hold anything but pure computation.

    Reads `saved_model.pb` without loading it and collects the ops of every graph and
    every function in it. Checkpoint ops (`CHECKPOINT_OPS`) are accepted only in the
    functions that nothing but the saver calls; every other op must be in `ALLOWED_OPS`.

    Args:
        folder: the SavedModel folder.

    Raises:
        UnsupportedModelError: for a missing, unreadable or oversized `saved_model.pb`, a
            TF1 SavedModel (no object graph), or an op outside the allow-list (named).
    """
    folder = Path(folder)
    saved_model = _read_saved_model(folder)
    refused: set[str] = set()
    for meta_graph in saved_model.meta_graphs:
        if not meta_graph.object_graph_def.nodes:
            raise UnsupportedModelError(
                f"{folder} is a TF1 SavedModel (it has no object graph); tfpipeline checks "
                "and loads TF2 SavedModels only. Load it yourself with tf.saved_model.load "
                "if you trust it, and export it again."
            )
        computation, checkpoint = saved_model_ops(meta_graph)
        refused |= computation - ALLOWED_OPS
        refused |= checkpoint - ALLOWED_OPS - CHECKPOINT_OPS
    if refused:
        raise UnsupportedModelError(
            f"{folder} holds ops outside the allow-list of pure computation: "
            f"{', '.join(sorted(refused))}. A SavedModel is a program, and these ops could "
            "read or write files, run code or reach the network, so tfpipeline does not load "
            "it. Load it yourself with tf.saved_model.load if you trust it."
        )


def saved_model_ops(meta_graph) -> tuple[set[str], set[str]]:
    """The ops of a meta graph: (ops anything may run, ops only the saver's functions run).

    The saver's nodes (`saver_def`) call the checkpoint functions; a function belongs to
    the second set only when nothing else (another node, a concrete function of the object
    graph, a gradient) reaches it through function calls.

    Args:
        meta_graph: a `MetaGraphDef`.

    Returns:
        Two sets of op names.
    """
    graph = meta_graph.graph_def
    library = {function.signature.name: function for function in graph.library.function}
    saver_nodes = {
        _node_name(name)
        for name in (meta_graph.saver_def.save_tensor_name, meta_graph.saver_def.restore_op_name)
        if name
    }
    saver_roots: set[str] = set()
    other_roots: set[str] = set(meta_graph.object_graph_def.concrete_functions)
    other_roots |= {gradient.gradient_func for gradient in graph.library.gradient}
    computation: set[str] = set()
    for node in graph.node:
        calls = set(_calls(node, library))
        (saver_roots if node.name in saver_nodes else other_roots).update(calls)
        if node.op not in library:
            computation.add(node.op)
    from_saver, from_others = _reachable(saver_roots, library), _reachable(other_roots, library)
    saver_only = from_saver - from_others
    checkpoint: set[str] = set()
    for name in set(library) | from_saver | from_others:
        ops = checkpoint if name in saver_only else computation
        if name in library:
            ops.update(node.op for node in library[name].node_def if node.op not in library)
        else:  # a call to something the library lacks: TensorFlow runs it as an op
            ops.add(name)
    return computation, checkpoint


def check_keras_file(path: str | Path) -> None:
    """Refuses a `.keras` file whose config names a module outside Keras and tfpipeline.

    tf_keras imports the `module` each object of `config.json` names before it looks the
    class up, in safe mode too; this reads the config from the zip without importing
    anything and accepts only the modules of `KERAS_MODULES`.

    Args:
        path: the `.keras` file.

    Raises:
        UnsupportedModelError: for a file that is not a zip holding a readable JSON
            `config.json`, or a config that names a module outside `KERAS_MODULES` (named).
    """
    path = Path(path)
    config = _read_keras_config(path)
    refused = sorted({module for module in _modules(config) if not _is_keras_module(module)})
    if refused:
        raise UnsupportedModelError(
            f"Cannot load {path}: its config.json names Python modules outside Keras and "
            f"tfpipeline: {', '.join(map(repr, refused))}. tf_keras would import them to build "
            "the model, even in safe mode; tfpipeline loads Keras files in safe mode and "
            "refuses such a file before anything is imported. Load the model yourself in "
            "Python if you trust it, and export it with the API."
        )


def _read_saved_model(folder: Path):
    from tensorflow.core.protobuf import saved_model_pb2

    file = folder / "saved_model.pb"
    if not file.is_file():
        raise UnsupportedModelError(f"{folder} is not a SavedModel folder: no saved_model.pb.")
    size = file.stat().st_size
    if size > MAX_SAVED_MODEL_BYTES:
        raise UnsupportedModelError(
            f"{file} is too large to check ({size / 2**20:.0f} MB; the limit is "
            f"{MAX_SAVED_MODEL_BYTES // 2**20} MB)."
        )
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString(file.read_bytes())
    except Exception as exc:  # protobuf's DecodeError, or an OSError reading it
        raise UnsupportedModelError(
            f"{file} is not a readable SavedModel (corrupt or truncated?): {exc}"
        ) from None
    if not saved_model.meta_graphs:
        raise UnsupportedModelError(f"{file} holds no graph; it is not a usable SavedModel.")
    return saved_model


def _read_keras_config(path: Path):
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > MAX_KERAS_CONFIG_BYTES:
                raise UnsupportedModelError(
                    f"{path}: its config.json is too large to check ({info.file_size / 2**20:.0f} "
                    f"MB; the limit is {MAX_KERAS_CONFIG_BYTES // 2**20} MB)."
                )
            with archive.open(info) as file:
                text = file.read(MAX_KERAS_CONFIG_BYTES + 1)
    except KeyError:
        raise UnsupportedModelError(
            f"{path} is not a Keras file: its zip holds no config.json."
        ) from None
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
        raise UnsupportedModelError(
            f"{path} is not a Keras file (a zip holding config.json): {exc}"
        ) from None
    if len(text) > MAX_KERAS_CONFIG_BYTES:  # the zip's directory understated the size
        raise UnsupportedModelError(f"{path}: its config.json is too large to check.")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deep
        raise UnsupportedModelError(
            f"{path}: its config.json is not readable JSON: {type(exc).__name__}: {exc}"
        ) from None


def _modules(value) -> Iterator[str]:
    """Every `module` value of a JSON document, at any depth (`null` imports nothing)."""
    todo = [value]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            module = value.get("module")
            if module is not None:
                yield module if isinstance(module, str) else repr(module)
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)


def _is_keras_module(module: str) -> bool:
    if not all(part.isidentifier() and not part.startswith("_") for part in module.split(".")):
        return False
    return any(module == name or module.startswith(name + ".") for name in KERAS_MODULES)


def _node_name(tensor: str) -> str:
    return tensor.lstrip("^").split(":")[0]


def _calls(node, library: dict) -> Iterator[str]:
    """The functions a node calls: its op when the library defines it, and every function
    its attributes name (`f`, branches, loop bodies), however deeply nested."""
    if node.op in library:
        yield node.op
    yield from _attr_calls(node.attr.values())


def _attr_calls(values: Iterable) -> Iterator[str]:
    for value in values:
        kind = value.WhichOneof("value")
        if kind == "func":
            yield value.func.name
            yield from _attr_calls(value.func.attr.values())
        elif kind == "list":
            for func in value.list.func:
                yield func.name
                yield from _attr_calls(func.attr.values())


def _reachable(roots: set[str], library: dict) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in library:
            for node in library[name].node_def:
                todo.extend(_calls(node, library))
    return seen
