"""The part of Dassl's API this project uses, written down once as data (docs/engine.md §10).

Dassl is on no package registry, so the tests that run on it (``tests/test_dassl_compat.py``)
cannot run in CI. This record keeps the Dassl path honest there: ``tests/test_dassl_surface.py``
checks that the embedded engine matches it (config keys and defaults, exported names, trainer
hooks and their parameters), and, where Dassl is importable, that Dassl does too. Read from
KaiyangZhou/Dassl.pytorch at commit ``c61a1b5`` (``dassl/config/defaults.py``,
``dassl/engine/trainer.py``).
"""
from __future__ import annotations

DASSL_COMMIT = "c61a1b5"

# Every key the embedded engine carries, with Dassl's default (Dassl's own trainers' nodes,
# TRAINER.<method>.*, are the keys it does not carry).
CONFIG_DEFAULTS: dict[str, object] = {
    'DATALOADER.K_TRANSFORMS': 1,
    'DATALOADER.NUM_WORKERS': 4,
    'DATALOADER.RETURN_IMG0': False,
    'DATALOADER.TEST.BATCH_SIZE': 32,
    'DATALOADER.TEST.SAMPLER': 'SequentialSampler',
    'DATALOADER.TRAIN_U.BATCH_SIZE': 32,
    'DATALOADER.TRAIN_U.N_DOMAIN': 0,
    'DATALOADER.TRAIN_U.N_INS': 16,
    'DATALOADER.TRAIN_U.SAME_AS_X': True,
    'DATALOADER.TRAIN_U.SAMPLER': 'RandomSampler',
    'DATALOADER.TRAIN_X.BATCH_SIZE': 32,
    'DATALOADER.TRAIN_X.N_DOMAIN': 0,
    'DATALOADER.TRAIN_X.N_INS': 16,
    'DATALOADER.TRAIN_X.SAMPLER': 'RandomSampler',
    'DATASET.ALL_AS_UNLABELED': False,
    'DATASET.CIFAR_C_LEVEL': 1,
    'DATASET.CIFAR_C_TYPE': '',
    'DATASET.NAME': '',
    'DATASET.NUM_LABELED': -1,
    'DATASET.NUM_SHOTS': -1,
    'DATASET.ROOT': '',
    'DATASET.SOURCE_DOMAINS': [],
    'DATASET.STL10_FOLD': -1,
    'DATASET.TARGET_DOMAINS': [],
    'DATASET.VAL_PERCENT': 0.1,
    'INPUT.COLORJITTER_B': 0.4,
    'INPUT.COLORJITTER_C': 0.4,
    'INPUT.COLORJITTER_H': 0.1,
    'INPUT.COLORJITTER_S': 0.4,
    'INPUT.CROP_PADDING': 4,
    'INPUT.CUTOUT_LEN': 16,
    'INPUT.CUTOUT_N': 1,
    'INPUT.GB_K': 21,
    'INPUT.GB_P': 0.5,
    'INPUT.GN_MEAN': 0.0,
    'INPUT.GN_STD': 0.15,
    'INPUT.INTERPOLATION': 'bilinear',
    'INPUT.NO_TRANSFORM': False,
    'INPUT.PIXEL_MEAN': [0.485, 0.456, 0.406],
    'INPUT.PIXEL_STD': [0.229, 0.224, 0.225],
    'INPUT.RANDAUGMENT_M': 10,
    'INPUT.RANDAUGMENT_N': 2,
    'INPUT.RGS_P': 0.2,
    'INPUT.RRCROP_SCALE': [0.08, 1.0],
    'INPUT.SIZE': [224, 224],
    'INPUT.TRANSFORMS': [],
    'MODEL.BACKBONE.NAME': '',
    'MODEL.BACKBONE.PRETRAINED': True,
    'MODEL.HEAD.ACTIVATION': 'relu',
    'MODEL.HEAD.BN': True,
    'MODEL.HEAD.DROPOUT': 0.0,
    'MODEL.HEAD.HIDDEN_LAYERS': [],
    'MODEL.HEAD.NAME': '',
    'MODEL.INIT_WEIGHTS': '',
    'OPTIM.ADAM_BETA1': 0.9,
    'OPTIM.ADAM_BETA2': 0.999,
    'OPTIM.BASE_LR_MULT': 0.1,
    'OPTIM.GAMMA': 0.1,
    'OPTIM.LR': 0.0003,
    'OPTIM.LR_SCHEDULER': 'single_step',
    'OPTIM.MAX_EPOCH': 10,
    'OPTIM.MOMENTUM': 0.9,
    'OPTIM.NAME': 'adam',
    'OPTIM.NEW_LAYERS': [],
    'OPTIM.RMSPROP_ALPHA': 0.99,
    'OPTIM.SGD_DAMPNING': 0,
    'OPTIM.SGD_NESTEROV': False,
    'OPTIM.STAGED_LR': False,
    'OPTIM.STEPSIZE': [-1],
    'OPTIM.WARMUP_CONS_LR': 1e-05,
    'OPTIM.WARMUP_EPOCH': -1,
    'OPTIM.WARMUP_MIN_LR': 1e-05,
    'OPTIM.WARMUP_RECOUNT': True,
    'OPTIM.WARMUP_TYPE': 'linear',
    'OPTIM.WEIGHT_DECAY': 0.0005,
    'OUTPUT_DIR': './output',
    'RESUME': '',
    'SEED': -1,
    'TEST.COMPUTE_CMAT': False,
    'TEST.EVALUATOR': 'Classification',
    'TEST.FINAL_MODEL': 'last_step',
    'TEST.NO_TEST': False,
    'TEST.PER_CLASS_RESULT': False,
    'TEST.SPLIT': 'test',
    'TRAIN.CHECKPOINT_FREQ': 0,
    'TRAIN.COUNT_ITER': 'train_x',
    'TRAIN.PRINT_FREQ': 10,
    'TRAINER.NAME': '',
    'USE_CUDA': True,
    'VERBOSE': True,
    'VERSION': 1,
}
# Where the embedded engine's default differs, and why (configs set the key for real Dassl).
DEVIATIONS: dict[str, tuple[object, str]] = {
    "TEST.EVALUATOR": ("Retrieval", "every trainer here is evaluated by retrieval; Dassl's default is its classifier"),
}

# Names ``engine`` exports and the Dassl module each comes from (the project's fixes are its own).
EXPORTS: dict[str, str] = {
    "get_cfg_default": "dassl.config",
    "TRAINER_REGISTRY": "dassl.engine", "build_trainer": "dassl.engine", "TrainerBase": "dassl.engine",
    "SimpleTrainer": "dassl.engine", "TrainerX": "dassl.engine",
    "DataManager": "dassl.data", "DatasetWrapper": "dassl.data",
    "DATASET_REGISTRY": "dassl.data.datasets", "Datum": "dassl.data.datasets", "DatasetBase": "dassl.data.datasets",
    "build_dataset": "dassl.data.datasets",
    "build_transform": "dassl.data.transforms", "INTERPOLATION_MODES": "dassl.data.transforms",
    "EVALUATOR_REGISTRY": "dassl.evaluation", "EvaluatorBase": "dassl.evaluation", "build_evaluator": "dassl.evaluation",
    "build_optimizer": "dassl.optim",
}

# TrainerX methods the project's trainers override or call, with Dassl's parameter names; the
# embedded engine carries exactly these.
HOOKS: dict[str, tuple[str, ...]] = {
    "check_cfg": ("cfg",), "build_data_loader": (), "build_model": (), "train": (),
    "before_train": (), "after_train": (), "before_epoch": (), "after_epoch": (), "run_epoch": (),
    "test": ("split",), "parse_batch_train": ("batch",), "forward_backward": ("batch",),
    "register_model": ("name", "model", "optim", "sched"), "get_model_names": ("names",),
    "set_model_mode": ("mode", "names"), "update_lr": ("names",), "get_current_lr": ("names",),
    "model_zero_grad": ("names",), "model_backward": ("loss",), "model_update": ("names",),
    "model_backward_and_update": ("loss", "names"),
    "save_model": ("epoch", "directory", "is_best", "val_result", "model_name"),
    "resume_model_if_exist": ("directory",), "load_model": ("directory", "epoch"), "init_writer": ("log_dir",),
}

# Dassl's TrainerX methods the embedded engine does not carry, and why. Dassl's ``test`` runs a
# classifier over the test loader; the embedded engine keeps only the abstract hook, which every
# trainer of the project overrides with retrieval.
NOT_CARRIED: dict[str, str] = {
    "parse_batch_test": "a classification batch (image, label) for Dassl's test(); retrieval encodes items instead",
    "model_inference": "a classifier's logits for Dassl's test(); the trainers call their model's encoders",
}
