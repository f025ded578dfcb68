"""Write priors/adm_manifests/{ffhq256,imagenet256}.json: every state-dict key of the two common
guided-diffusion (ADM) UNet layouts with its shape, taken from a reference implementation.

The reference is deepinv's `DiffUNet` (a port of openai/guided-diffusion's `UNetModel` that loads
`ffhq_10m.pt` and `256x256_diffusion_uncond.pt` with strict=True), built on the meta device with
`pretrained=None`, so nothing is downloaded or allocated. It is not a dependency of restore: run
this once in a separate environment that has it, e.g.

    python3 -m venv /work/venv-peers
    /work/venv-peers/bin/pip install torch==2.14.1 torchvision==0.29.1 deepinv
    /work/venv-peers/bin/python lab/make_adm_manifest.py

tests/test_adm.py checks restore's own ADMUNet against the committed files.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

# deepinv registers these schedule buffers for its noise-level denoising mode; they are not part
# of guided-diffusion's UNetModel nor of its checkpoints.
DEEPINV_ONLY = ("sqrt_1m_alphas_cumprod", "sqrt_alphas_cumprod")

LAYOUTS = {
    "ffhq256": dict(large_model=False, file="ffhq_10m.pt (DPS, DiffPIR)",
                    flags="--num_channels 128 --num_res_blocks 1 --channel_mult 1,1,2,2,4,4 "
                          "--attention_resolutions 16 --num_head_channels 64 --learn_sigma True "
                          "--use_scale_shift_norm True --resblock_updown True --image_size 256"),
    "imagenet256": dict(large_model=True, file="256x256_diffusion_uncond.pt (guided-diffusion)",
                        flags="--num_channels 256 --num_res_blocks 2 --channel_mult 1,1,2,2,4,4 "
                              "--attention_resolutions 32,16,8 --num_head_channels 64 --learn_sigma True "
                              "--use_scale_shift_norm True --resblock_updown True --image_size 256 "
                              "--use_new_attention_order False"),
}


def manifest(name: str) -> dict:
    import deepinv
    from deepinv.models import DiffUNet

    spec = LAYOUTS[name]
    with torch.device("meta"):
        net = DiffUNet(in_channels=3, out_channels=3, large_model=spec["large_model"], pretrained=None)
    keys = {k: list(v.shape) for k, v in net.state_dict().items() if k not in DEEPINV_ONLY}
    return {
        "layout": name,
        "checkpoint": spec["file"],
        "guided_diffusion_flags": spec["flags"],
        "generated_from": f"deepinv {deepinv.__version__} deepinv.models.DiffUNet(in_channels=3, out_channels=3, "
                          f"large_model={spec['large_model']}, pretrained=None), torch {torch.__version__}, "
                          f"minus deepinv-only buffers {list(DEEPINV_ONLY)}",
        "parameters": int(sum(v.numel() for v in net.state_dict().values()) -
                          sum(net.state_dict()[k].numel() for k in DEEPINV_ONLY if k in net.state_dict())),
        "keys": keys,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "priors" / "adm_manifests")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in LAYOUTS:
        m = manifest(name)
        path = args.out / f"{name}.json"
        keys = m.pop("keys")
        head = json.dumps(m, indent=1)[:-2]  # one key per line keeps the diff of a layout change readable
        body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in keys.items())
        path.write_text(f"{head},\n \"keys\": {{\n{body}\n }}\n}}\n")
        assert json.loads(path.read_text())["keys"] == keys
        print(f"{path}: {len(keys)} keys, {m['parameters']:,} parameters")


if __name__ == "__main__":
    main()
