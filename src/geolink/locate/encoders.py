"""The 2D encoder of a checkpoint, through torch or through an ONNX export, behind one identity.

GeoLink's inference is 2D-only (paper §3.5): a drone photo and a satellite tile go through the same image encoder
(``model.encode_image``) and are compared by cosine. That encoder is all ``geolink locate`` needs, so it can leave
torch behind: :func:`export_onnx` writes it as an ONNX graph that onnxruntime runs on a CPU (or any of its
execution providers) without torch installed.

Both encoders take ``[H, W, 3]`` uint8 images and return ``[N, D]`` float32 L2-normalised descriptors, and
prepare their inputs with the same NumPy code as evaluation (:func:`preprocess`: bicubic resize to the
checkpoint's image size, ImageNet normalisation), so they differ only by the arithmetic of the two runtimes.

Identity: an index is only meaningful for the encoder that built it. :class:`EncoderIdentity` (the checkpoint's
sha256, its model name and image size) is written into the index and into the ONNX file's metadata, so an index
built with a checkpoint can be searched with that checkpoint's ONNX export, and refuses any other encoder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from geolink.data.images import normalise_array
from geolink.locate.errors import LocateError

#: Images embedded per forward pass.
BATCH_SIZE = 32
#: ONNX metadata key holding the identity (JSON).
ONNX_IDENTITY_KEY = "geolink.encoder"
#: Descriptors of the torch and ONNX encoders must agree to this cosine, checked at export.
EXPORT_MIN_COSINE = 0.9999


@dataclass(frozen=True)
class EncoderIdentity:
    """What makes two encoders interchangeable: the same weights at the same input size. ``north_up`` says how the
    weights want their photos: turned north-up by their heading (a checkpoint of ``geolink tune``) or as taken."""

    checkpoint_sha256: str
    model_name: str
    image_size: int
    north_up: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EncoderIdentity:
        return cls(
            str(data["checkpoint_sha256"]),
            str(data["model_name"]),
            int(data["image_size"]),
            bool(data.get("north_up", False)),  # exports and indexes written before tuning existed: as taken
        )

    def difference(self, other: EncoderIdentity) -> str | None:
        """What differs from ``other``, in words, or None when they are the same encoder."""
        if self.checkpoint_sha256 != other.checkpoint_sha256:
            return (
                f"another checkpoint (sha256 {other.checkpoint_sha256[:12]}..., model {other.model_name}, not "
                f"{self.checkpoint_sha256[:12]}..., model {self.model_name})"
            )
        if self.image_size != other.image_size:
            return f"another image size ({other.image_size} px, not {self.image_size} px)"
        return None


def model_input(batch: np.ndarray) -> np.ndarray:
    """``[N, S, S, 3]`` uint8 images of the model's size -> ``[N, 3, S, S]`` float32 model input (ImageNet)."""
    return np.ascontiguousarray(normalise_array(batch).transpose(0, 3, 1, 2))


def preprocess(images: list[np.ndarray], image_size: int) -> np.ndarray:
    """``[H, W, 3]`` uint8 images -> ``[N, 3, S, S]`` float32 model input (evaluation's bicubic resize + ImageNet)."""
    size = (image_size, image_size)
    return model_input(np.stack([np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC)) for image in images]))


def _embed(images: list[np.ndarray], image_size: int, run) -> np.ndarray:
    """``[N, D]`` L2-normalised descriptors: ``run`` maps one prepared batch ``[B, 3, S, S]`` to ``[B, D]``."""
    out = [
        run(preprocess(images[start : start + BATCH_SIZE], image_size)) for start in range(0, len(images), BATCH_SIZE)
    ]
    features = np.concatenate(out)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


class TorchEncoder:
    """A checkpoint's ``encode_image`` in torch, on a GPU when one is usable (``device="auto"``), in float32."""

    def __init__(self, checkpoint: str | Path, device: str = "auto"):
        import torch

        from geolink.data.acquire import sha256_file
        from geolink.evaluation.run import load_checkpoint

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model, saved = load_checkpoint(str(checkpoint), device=self.device)
        settings = saved["settings"]
        self.identity = EncoderIdentity(
            sha256_file(checkpoint), saved["model_name"], int(settings["image_size"]), bool(settings.get("north_up"))
        )
        self.description = f"{Path(checkpoint).absolute()} (torch, {self.device})"

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        import torch

        def run(batch: np.ndarray) -> np.ndarray:
            return self.model.encode_image(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

        with torch.no_grad():
            return _embed(images, self.identity.image_size, run)


class OnnxEncoder:
    """An encoder exported by :func:`export_onnx`, run by onnxruntime (CPU unless ``providers`` says otherwise)."""

    def __init__(self, path: str | Path, providers: list[str] | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise LocateError(
                "onnxruntime is not installed; `pip install onnxruntime` (or use --checkpoint with torch)."
            ) from None
        path = Path(path)
        if not path.is_file():
            raise LocateError(f"ONNX encoder {path.absolute()} does not exist; write it with `geolink export-onnx`.")
        try:
            self.session = ort.InferenceSession(str(path), providers=providers or ["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... types for unreadable files
            raise LocateError(
                f"{path.absolute()} is not an ONNX model onnxruntime can load ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:200]}); export it again with `geolink export-onnx`."
            ) from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if ONNX_IDENTITY_KEY not in meta:
            raise LocateError(
                f"ONNX model {path.absolute()} carries no geolink encoder identity (metadata {ONNX_IDENTITY_KEY!r}); "
                "export the checkpoint with `geolink export-onnx`, which records which checkpoint it holds."
            )
        self.identity = EncoderIdentity.from_dict(json.loads(meta[ONNX_IDENTITY_KEY]))
        self.input_name = self.session.get_inputs()[0].name
        self.description = f"{path.absolute()} (onnxruntime, {', '.join(self.session.get_providers())})"

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        return _embed(
            images, self.identity.image_size, lambda batch: self.session.run(None, {self.input_name: batch})[0]
        )


def open_encoder(checkpoint: str | Path | None = None, onnx: str | Path | None = None, device: str = "auto"):
    """The encoder of ``--checkpoint`` (torch) or ``--onnx`` (onnxruntime); exactly one must be given."""
    if (checkpoint is None) == (onnx is None):
        raise LocateError("give the encoder as exactly one of --checkpoint (torch) or --onnx (onnxruntime).")
    if onnx is not None:
        return OnnxEncoder(onnx)
    try:
        return TorchEncoder(checkpoint, device)
    except ImportError:
        raise LocateError(
            "torch is not installed, so --checkpoint cannot be read here; export the checkpoint with "
            "`geolink export-onnx` where torch is installed and pass --onnx instead."
        ) from None


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = 17) -> dict:
    """Write the 2D encoder of ``checkpoint`` to ``out`` as ONNX (dynamic batch), with its identity as metadata.

    The export is checked before it is published: onnxruntime and torch must give descriptors with cosine
    >= :data:`EXPORT_MIN_COSINE` on a batch of random images (the tests check it on synthetic photos too).

    Returns:
        A summary: the identity, the output dimension and the smallest cosine measured.
    """
    import io
    import warnings

    import onnx
    import torch

    from geolink.atomic import atomic_output

    encoder = TorchEncoder(checkpoint, device="cpu")

    class Descriptor(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, images):
            return torch.nn.functional.normalize(self.model.encode_image(images).float(), dim=-1)

    size = encoder.identity.image_size
    example = torch.zeros(2, 3, size, size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch 2.14 warns that the TorchScript exporter is legacy; the dynamo exporter needs onnxscript, which the
        # project does not install, and the exported graph is checked against torch below either way.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                Descriptor(encoder.model).eval(),
                (example,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=["images"],
                output_names=["descriptors"],
                dynamic_axes={"images": {0: "batch"}, "descriptors": {0: "batch"}},
            )
        except Exception as err:  # the tracer and the ONNX checker raise many types; none is the user's to debug
            raise LocateError(
                f"the 2D encoder of {Path(checkpoint).absolute()} ({encoder.identity.model_name} at "
                f"{size} px) could not be exported to ONNX ({type(err).__name__}: {str(err).splitlines()[0][:300]}); "
                "nothing was written. Use --checkpoint with torch instead, and report the model name."
            ) from None
    model = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(model, {ONNX_IDENTITY_KEY: json.dumps(encoder.identity.as_dict())})
    with atomic_output(out) as tmp:
        onnx.save(model, str(tmp))
        exported = OnnxEncoder(tmp)
        images = list(np.random.default_rng(0).integers(0, 256, size=(5, size, size, 3), dtype=np.uint8))
        descriptors = exported(images)
        cosine = float((descriptors * encoder(images)).sum(axis=1).min())
        if cosine < EXPORT_MIN_COSINE:
            raise LocateError(
                f"the ONNX export of {Path(checkpoint).absolute()} does not reproduce torch's descriptors (cosine "
                f"{cosine:.6f} < {EXPORT_MIN_COSINE}); nothing was written. Report this with the model name "
                f"{encoder.identity.model_name}."
            )
    return {**encoder.identity.as_dict(), "dim": int(descriptors.shape[1]), "min_cosine": cosine}
