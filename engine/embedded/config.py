"""Default configuration of the embedded engine (docs/engine.md, "Config").

The values are Dassl's documented defaults, each with a comment; the config object is yacs'
``CfgNode`` so that files, ``merge_from_list`` and type checks behave exactly as under Dassl. Keys
marked "unused here" exist so that configs written for Dassl load unchanged. Dassl's own
domain-adaptation trainer sub-nodes (``TRAINER.MCD`` ...) are left out: no plugin reads them.
"""
from __future__ import annotations

from yacs.config import CfgNode as CN


def _defaults() -> CN:
    c = CN()
    c.VERSION = 1  # format version of the config
    c.OUTPUT_DIR = "./output"  # the run folder (--output-dir)
    c.RESUME = ""  # a run folder to resume from (--resume)
    c.SEED = -1  # >= 0: seed python, numpy and torch (0 is a seed); < 0: unseeded
    c.USE_CUDA = True  # use a GPU when there is one
    c.VERBOSE = True  # print the dataset summary and more

    c.INPUT = CN()
    c.INPUT.SIZE = (224, 224)  # (height, width) the images are resized to
    c.INPUT.INTERPOLATION = "bilinear"  # bilinear | bicubic | nearest
    c.INPUT.TRANSFORMS = ()  # training transforms in order, e.g. ("random_crop", "normalize")
    c.INPUT.NO_TRANSFORM = False  # True: no transform at all (tensors only)
    c.INPUT.PIXEL_MEAN = [0.485, 0.456, 0.406]  # "normalize": per-channel mean (CLIP configs set CLIP's)
    c.INPUT.PIXEL_STD = [0.229, 0.224, 0.225]  # "normalize": per-channel std
    c.INPUT.CROP_PADDING = 4  # "random_crop": pixels of padding before the crop
    c.INPUT.RRCROP_SCALE = (0.08, 1.0)  # "random_resized_crop": area range
    c.INPUT.CUTOUT_N = 1  # "cutout" (real Dassl only): holes
    c.INPUT.CUTOUT_LEN = 16  # "cutout": hole side
    c.INPUT.GN_MEAN = 0.0  # "gaussian_noise" (real Dassl only): mean
    c.INPUT.GN_STD = 0.15  # "gaussian_noise": std
    c.INPUT.RANDAUGMENT_N = 2  # "randaugment" (real Dassl only): operations
    c.INPUT.RANDAUGMENT_M = 10  # "randaugment": magnitude
    c.INPUT.COLORJITTER_B = 0.4  # "colorjitter": brightness
    c.INPUT.COLORJITTER_C = 0.4  # "colorjitter": contrast
    c.INPUT.COLORJITTER_S = 0.4  # "colorjitter": saturation
    c.INPUT.COLORJITTER_H = 0.1  # "colorjitter": hue
    c.INPUT.RGS_P = 0.2  # "random_gray_scale": probability
    c.INPUT.GB_P = 0.5  # "gaussian_blur": probability
    c.INPUT.GB_K = 21  # "gaussian_blur": kernel size

    c.DATASET = CN()
    c.DATASET.ROOT = ""  # the data folder (--root)
    c.DATASET.NAME = ""  # a registered dataset name (FDRD, FDRDSynth, ...)
    c.DATASET.SOURCE_DOMAINS = ()  # domain adaptation / generalisation (Dassl); unused here
    c.DATASET.TARGET_DOMAINS = ()  # likewise
    c.DATASET.NUM_LABELED = -1  # semi-supervised learning (Dassl); unused here
    c.DATASET.NUM_SHOTS = -1  # K images per class for training; -1: all
    c.DATASET.VAL_PERCENT = 0.1  # Dassl datasets without a val split; the FDRD loaders do not read it
    c.DATASET.STL10_FOLD = -1  # Dassl's STL-10 benchmark; unused here
    c.DATASET.CIFAR_C_TYPE = ""  # Dassl's CIFAR-C benchmark; unused here
    c.DATASET.CIFAR_C_LEVEL = 1  # likewise
    c.DATASET.ALL_AS_UNLABELED = False  # semi-supervised learning (Dassl); unused here

    c.DATALOADER = CN()
    c.DATALOADER.NUM_WORKERS = 4  # loader processes (0: load in the main process)
    c.DATALOADER.K_TRANSFORMS = 1  # augmented views per image (Dassl); 1 here
    c.DATALOADER.RETURN_IMG0 = False  # also return the untransformed image (Dassl)
    c.DATALOADER.TRAIN_X = CN()
    c.DATALOADER.TRAIN_X.SAMPLER = "RandomSampler"  # sampler of the labelled training set
    c.DATALOADER.TRAIN_X.BATCH_SIZE = 32  # the global batch (split over processes under torchrun)
    c.DATALOADER.TRAIN_X.N_DOMAIN = 0  # domain-balanced samplers (Dassl); unused here
    c.DATALOADER.TRAIN_X.N_INS = 16  # likewise
    c.DATALOADER.TRAIN_U = CN()
    c.DATALOADER.TRAIN_U.SAME_AS_X = True  # unlabelled loader (semi-supervised, Dassl); unused here
    c.DATALOADER.TRAIN_U.SAMPLER = "RandomSampler"
    c.DATALOADER.TRAIN_U.BATCH_SIZE = 32
    c.DATALOADER.TRAIN_U.N_DOMAIN = 0
    c.DATALOADER.TRAIN_U.N_INS = 16
    c.DATALOADER.TEST = CN()
    c.DATALOADER.TEST.SAMPLER = "SequentialSampler"  # sampler of the val and test sets
    c.DATALOADER.TEST.BATCH_SIZE = 32  # evaluation batch

    c.MODEL = CN()
    c.MODEL.INIT_WEIGHTS = ""  # Dassl: weights to initialise a model from; unused here
    c.MODEL.BACKBONE = CN()
    c.MODEL.BACKBONE.NAME = ""  # a CLIP name (ViT-B/16, ViT-B-16:laion2b_s34b_b88k, hf-hub:<repo>, synth-small) or a path
    c.MODEL.BACKBONE.PRETRAINED = True  # Dassl's flag; CLIP backbones are always pretrained
    c.MODEL.HEAD = CN()
    c.MODEL.HEAD.NAME = ""  # classification head (Dassl); unused here
    c.MODEL.HEAD.HIDDEN_LAYERS = ()
    c.MODEL.HEAD.ACTIVATION = "relu"
    c.MODEL.HEAD.BN = True
    c.MODEL.HEAD.DROPOUT = 0.0

    c.OPTIM = CN()
    c.OPTIM.NAME = "adam"  # sgd | adam | adamw | rmsprop | ...
    c.OPTIM.LR = 0.0003  # base learning rate
    c.OPTIM.WEIGHT_DECAY = 5e-4  # weight decay
    c.OPTIM.MOMENTUM = 0.9  # SGD / RMSprop momentum
    c.OPTIM.SGD_DAMPNING = 0  # SGD dampening
    c.OPTIM.SGD_NESTEROV = False  # SGD Nesterov momentum
    c.OPTIM.RMSPROP_ALPHA = 0.99  # RMSprop smoothing
    c.OPTIM.ADAM_BETA1 = 0.9  # Adam / AdamW beta1
    c.OPTIM.ADAM_BETA2 = 0.999  # Adam / AdamW beta2
    c.OPTIM.STAGED_LR = False  # True: NEW_LAYERS at LR, the rest at LR * BASE_LR_MULT
    c.OPTIM.NEW_LAYERS = ()  # module names trained at the full LR when STAGED_LR
    c.OPTIM.BASE_LR_MULT = 0.1  # LR multiplier of the other layers when STAGED_LR
    c.OPTIM.LR_SCHEDULER = "single_step"  # single_step | multi_step | cosine (stepped per epoch)
    c.OPTIM.STEPSIZE = (-1,)  # step schedules: epochs at which the LR is multiplied by GAMMA
    c.OPTIM.GAMMA = 0.1  # step schedules: the factor
    c.OPTIM.MAX_EPOCH = 10  # training epochs
    c.OPTIM.WARMUP_EPOCH = -1  # > 0: warm-up epochs before the schedule
    c.OPTIM.WARMUP_TYPE = "linear"  # constant | linear
    c.OPTIM.WARMUP_CONS_LR = 1e-5  # the constant warm-up LR
    c.OPTIM.WARMUP_MIN_LR = 1e-5  # where the linear warm-up starts
    c.OPTIM.WARMUP_RECOUNT = True  # True: the schedule restarts its epoch count after the warm-up

    c.TRAIN = CN()
    c.TRAIN.CHECKPOINT_FREQ = 0  # > 0: keep the checkpoint of every N-th epoch (the last one is always kept)
    c.TRAIN.PRINT_FREQ = 10  # log every N batches
    c.TRAIN.COUNT_ITER = "train_x"  # Dassl, trainers with several loaders; unused here

    c.TEST = CN()
    c.TEST.EVALUATOR = "Classification"  # a registered evaluator; every trainer config of the project sets Retrieval
    c.TEST.PER_CLASS_RESULT = False  # Classification: also print each class's accuracy and their mean
    c.TEST.COMPUTE_CMAT = False  # Classification: also save the row-normalised confusion matrix (cmat.pt)
    c.TEST.NO_TEST = False  # True: no evaluation after training
    c.TEST.SPLIT = "test"  # the split of the final evaluation: test | val
    c.TEST.FINAL_MODEL = "last_step"  # last_step | best_val: which weights are evaluated at the end

    c.TRAINER = CN()
    c.TRAINER.NAME = ""  # a registered trainer (--trainer)
    return c


_C = _defaults()


def get_cfg_default() -> CN:
    """A fresh, mutable copy of the defaults."""
    return _C.clone()
