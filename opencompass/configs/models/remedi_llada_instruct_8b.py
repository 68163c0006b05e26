# LLaDA-8B-Instruct evaluated two ways with the same sampler settings: as LLaDA (TPS confidence, no
# remasking; upstream's OpenCompass setup) and as RemeDi (the same backbone plus a trained UPS head,
# UPS confidence with remasking). Eval configs import `models` and set the per-benchmark lengths.
from remedi_opencompass import RemeDiChatModel

LLADA_INSTRUCT = 'GSAI-ML/LLaDA-8B-Instruct'  # a hub id (fetched into the HF cache) or a local directory
UPS_PATH = 'checkpoints/remedi-ups'  # a folder with ups_config.json + ups_head.safetensors: set yours

models = [
    dict(
        type=RemeDiChatModel,
        abbr='llada-8b-instruct',
        path=LLADA_INSTRUCT,
        confidence_source='tps_prob',
        remask=False,
        max_out_len=512,
        batch_size=1,
        run_cfg=dict(num_gpus=1),
    ),
    dict(
        type=RemeDiChatModel,
        abbr='remedi-8b-instruct-ups',
        path=LLADA_INSTRUCT,
        ups_path=UPS_PATH,
        confidence_source='ups',
        remask=True,
        max_out_len=512,
        batch_size=1,
        run_cfg=dict(num_gpus=1),
    ),
]
