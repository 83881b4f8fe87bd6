"""Finding libssl3d.so.0 and declaring the C prototypes used by the package (ctypes).

Lookup order (the first that loads wins):
  1. the SSL3D_LIBRARY environment variable (a path to the shared library);
  2. the build tree: lib/libssl3d.so.0 two folders above this package (python/ssl3d/ in a
     checkout of the repository, after `make`);
  3. pkg-config: <libdir of ssl3d.pc>/libssl3d.so.0 (after `make install`);
  4. the system loader: "libssl3d.so.0" (LD_LIBRARY_PATH, ldconfig cache).
"""
import ctypes as C
import os
import subprocess

SONAME = "libssl3d.so.0"


def _candidates():
    env = os.environ.get("SSL3D_LIBRARY")
    if env:
        yield env, "SSL3D_LIBRARY"
        return  # an explicit choice is never silently replaced by another library
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "lib", SONAME), "build tree"
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "ssl3d"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        if libdir:
            yield os.path.join(libdir, SONAME), "pkg-config"
        else:
            yield None, "pkg-config: no ssl3d.pc"
    except (OSError, subprocess.SubprocessError):
        yield None, "pkg-config: not installed"
    yield SONAME, "system loader"


def _load():
    tried = []
    for path, how in _candidates():
        if path is None:
            tried.append(how)
            continue
        if how != "system loader" and not os.path.exists(path):
            tried.append(f"{path} ({how}: no such file)")
            continue
        try:
            return C.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({how}: {e})")
    raise ImportError("ssl3d: cannot load " + SONAME + "; tried: " + "; ".join(tried) +
                      ". Build it with `make`, install it, or set SSL3D_LIBRARY to its path.")


lib, path = _load()

# Opaque handles are plain pointers.
P = C.c_void_p
PP = C.POINTER(C.c_void_p)
i32, i64, u32, u64, f32, f64 = C.c_int32, C.c_int64, C.c_uint32, C.c_uint64, C.c_float, C.c_double
I64P, I32P, F64P, F32P = C.POINTER(i64), C.POINTER(i32), C.POINTER(f64), C.POINTER(f32)
STR = C.c_char_p
ST = C.c_int  # ssl3d_status

EPOCH_FN = C.CFUNCTYPE(i32, C.c_void_p, STR)
PRETRAIN_LOG_FN = C.CFUNCTYPE(i32, C.c_void_p, STR)   # ssl3d_pretrain_log_fn
PRETRAIN_BATCH_FN = C.CFUNCTYPE(ST, C.c_void_p, P, i64, i32, PP)   # ssl3d_pretrain_batch_fn


class PretrainConfig(C.Structure):
    """struct ssl3d_pretrain_config (ssl3d/pretrain_run.h), field for field; fill it with
    ssl3d_pretrain_config_init, which checks nothing but sets size and version, so that
    the library rejects a layout that differs from this one."""
    _fields_ = [("size", u32), ("version", u32), ("loader", P), ("batch_fn", PRETRAIN_BATCH_FN),
                ("batch_user", P), ("batch", i32), ("val_rounds", i32), ("seed", u64), ("steps", i64),
                ("max_seconds", f64), ("lr", f64), ("weight_decay", f64), ("schedule", STR), ("warmup", i64),
                ("eval_every", i64), ("save_every", i64), ("steps_per_epoch", i64), ("val", PP), ("n_val", i64),
                ("out", STR), ("resume", STR), ("meta", C.POINTER(STR)),
                ("data_ctx", C.c_void_p)]


class PretrainInputsConfig(C.Structure):
    """struct ssl3d_pretrain_inputs_config (ssl3d/pretrain_inputs.h), field for field; fill
    it with ssl3d_pretrain_inputs_config_init (defaults, size and version)."""
    _fields_ = [("size", u32), ("version", u32), ("manifest", STR), ("cases", I64P), ("n_cases", i64),
                ("cases_file", STR), ("dims", i32), ("batch", i32), ("task", STR), ("options", STR),
                ("seed", u64), ("normalisation", STR), ("spacing", f64 * 3), ("loader_threads", i32),
                ("val_fraction", f64), ("split_seed", u64), ("val_max", i64), ("data_ctx", C.c_void_p)]


_PROTOS = {
    # core
    "ssl3d_status_string": (STR, [ST]),
    "ssl3d_version": (STR, []),
    "ssl3d_version_number": (u32, []),
    "ssl3d_ctx_create": (ST, [i32, PP]),
    "ssl3d_ctx_release": (None, [P]),
    "ssl3d_ctx_set_threads": (ST, [P, i32]),
    "ssl3d_ctx_threads": (i32, [P]),
    "ssl3d_ctx_set_seed": (ST, [P, u64]),
    "ssl3d_ctx_seed": (u64, [P]),
    "ssl3d_ctx_last_error": (STR, [P]),
    "ssl3d_ctx_clear_error": (None, [P]),
    "ssl3d_ctx_backend_name": (STR, [P]),
    "ssl3d_tensor_create": (ST, [P, i32, i32, I64P, PP]),
    "ssl3d_tensor_from_data": (ST, [P, i32, i32, I64P, C.c_void_p, PP]),
    "ssl3d_tensor_release": (None, [P]),
    "ssl3d_tensor_retain": (P, [P]),
    "ssl3d_tensor_ndim": (i32, [P]),
    "ssl3d_tensor_dim": (i64, [P, i32]),
    "ssl3d_tensor_numel": (i64, [P]),
    "ssl3d_tensor_dtype": (i32, [P]),
    "ssl3d_tensor_read": (ST, [P, P, C.c_void_p, i64]),
    "ssl3d_tensor_write": (ST, [P, P, C.c_void_p, i64]),
    "ssl3d_tensor_host_data": (C.c_void_p, [P]),
    "ssl3d_tensor_set_requires_grad": (ST, [P, P, i32]),
    "ssl3d_tensor_requires_grad": (i32, [P]),
    "ssl3d_tensor_read_grad": (ST, [P, P, F32P, i64]),
    "ssl3d_tensor_zero_grad": (ST, [P, P]),
    "ssl3d_set_grad_enabled": (i32, [P, i32]),
    "ssl3d_backward": (ST, [P, P]),
    "ssl3d_tape_reset": (None, [P]),
    "ssl3d_tape_size": (i64, [P]),
    "ssl3d_weighted_sum": (ST, [P, P, P, PP]),
    "ssl3d_mean": (ST, [P, P, PP]),
    "ssl3d_global_avgpool": (ST, [P, P, PP]),
    "ssl3d_cross_entropy": (ST, [P, P, P, PP]),
    "ssl3d_reshape": (ST, [P, P, i32, I64P, PP]),
    # modules
    "ssl3d_module_release": (None, [P]),
    "ssl3d_module_kind_of": (i32, [P]),
    "ssl3d_module_tensor_count": (i32, [P]),
    "ssl3d_module_tensor": (P, [P, i32]),
    "ssl3d_module_tensor_name": (STR, [P, i32]),
    "ssl3d_module_tensor_trainable": (i32, [P, i32]),
    "ssl3d_module_params": (ST, [P, P, PP, i32, I32P]),
    "ssl3d_module_param_numel": (i64, [P]),
    "ssl3d_module_zero_grad": (ST, [P, P]),
    "ssl3d_encoder_create": (ST, [P, i32, i32, i32, i32, i32, PP]),
    "ssl3d_encoder_out_channels": (i32, [P]),
    "ssl3d_encoder_levels": (i32, [P]),
    "ssl3d_encoder_forward": (ST, [P, P, P, i32, PP, PP]),
    "ssl3d_decoder_create": (ST, [P, P, i32, PP]),
    "ssl3d_decoder_forward": (ST, [P, P, P, PP, i32, PP]),
    "ssl3d_mlp_create": (ST, [P, i32, i32, i32, PP]),
    "ssl3d_mlp_forward": (ST, [P, P, P, PP]),
    "ssl3d_mlp_in_features": (i32, [P]),
    "ssl3d_mlp_out_features": (i32, [P]),
    # optimiser and schedules
    "ssl3d_optim_create_adam": (ST, [P, f32, f32, f32, f32, f32, PP]),
    "ssl3d_optim_release": (None, [P]),
    "ssl3d_optim_add_params": (ST, [P, P, PP, i32, i32]),
    "ssl3d_optim_step": (ST, [P, P]),
    "ssl3d_optim_zero_grad": (ST, [P, P]),
    "ssl3d_optim_lr": (f32, [P]),
    "ssl3d_optim_num_state": (i32, [P]),
    "ssl3d_optim_state_at": (ST, [P, P, i32, C.POINTER(STR), PP]),
    "ssl3d_optim_apply_schedule": (ST, [P, P, P]),
    "ssl3d_lr_schedule_create_constant": (ST, [P, f32, i64, PP]),
    "ssl3d_lr_schedule_create_cosine": (ST, [P, f32, i64, i64, f32, PP]),
    "ssl3d_lr_schedule_release": (None, [P]),
    # checkpoints
    "ssl3d_checkpoint_create": (ST, [P, PP]),
    "ssl3d_checkpoint_release": (None, [P]),
    "ssl3d_checkpoint_add_tensor": (ST, [P, P, STR, P]),
    "ssl3d_checkpoint_set_meta": (ST, [P, P, STR, STR]),
    "ssl3d_checkpoint_save": (ST, [P, P, STR]),
    "ssl3d_checkpoint_load": (ST, [P, STR, PP]),
    "ssl3d_checkpoint_tensor_count": (i64, [P]),
    "ssl3d_checkpoint_tensor_name": (STR, [P, i64]),
    "ssl3d_checkpoint_get_tensor": (ST, [P, P, STR, PP]),
    "ssl3d_checkpoint_copy_into": (ST, [P, P, STR, P]),
    "ssl3d_checkpoint_meta_count": (i64, [P]),
    "ssl3d_checkpoint_meta_key": (STR, [P, i64]),
    "ssl3d_checkpoint_get_meta": (ST, [P, P, STR, C.POINTER(STR)]),
    # images and manifests
    "ssl3d_image_read": (ST, [P, STR, u32, PP]),
    "ssl3d_image_release": (None, [P]),
    "ssl3d_image_dims": (ST, [P, P, I64P]),
    "ssl3d_image_spacing": (ST, [P, P, F64P]),
    "ssl3d_image_affine": (ST, [P, P, F64P]),
    "ssl3d_image_datatype": (STR, [P]),
    "ssl3d_image_format": (STR, [P]),
    "ssl3d_image_orientation": (STR, [P]),
    "ssl3d_image_path": (STR, [P]),
    "ssl3d_image_nonfinite_count": (i64, [P]),
    "ssl3d_image_data": (C.c_void_p, [P]),
    "ssl3d_manifest_load": (ST, [P, STR, u32, PP]),
    "ssl3d_manifest_release": (None, [P]),
    "ssl3d_manifest_count": (i64, [P]),
    "ssl3d_manifest_kind": (i32, [P]),
    "ssl3d_manifest_case_num_images": (i32, [P, i64]),
    "ssl3d_manifest_case_image": (STR, [P, i64, i32]),
    "ssl3d_manifest_case_label_path": (STR, [P, i64]),
    "ssl3d_manifest_case_label": (i32, [P, i64]),
    # tasks
    "ssl3d_task_kind_parse": (ST, [STR, I32P]),
    "ssl3d_rotation_apply": (ST, [P, P, i32, PP]),
    "ssl3d_rotation_classes": (i32, [i32]),
    "ssl3d_task_kind_name": (STR, [i32]),
    "ssl3d_task_create": (ST, [P, i32, i32, i32, STR, PP]),
    "ssl3d_task_release": (None, [P]),
    "ssl3d_task_kind_of": (i32, [P]),
    "ssl3d_task_dims": (i32, [P]),
    "ssl3d_task_option": (ST, [P, P, STR, F64P]),
    "ssl3d_task_chance": (f64, [P]),
    "ssl3d_task_encoder": (P, [P]),
    "ssl3d_task_module_count": (i32, [P]),
    "ssl3d_task_module": (P, [P, i32]),
    "ssl3d_task_module_name": (STR, [P, i32]),
    "ssl3d_task_forward": (ST, [P, P, C.c_void_p, i32, u64, u64, i32, PP, I64P, I64P]),
    "ssl3d_task_save": (ST, [P, P, P]),
    "ssl3d_task_load": (ST, [P, P, P]),
    "ssl3d_task_create_from_checkpoint": (ST, [P, P, PP]),
    # loader
    "ssl3d_loader_create": (ST, [P, STR, i32, PP]),
    "ssl3d_loader_release": (None, [P]),
    "ssl3d_loader_set_dims": (ST, [P, P, i32]),
    "ssl3d_loader_set_cases": (ST, [P, P, I64P, i64]),
    "ssl3d_loader_set_split": (ST, [P, P, f64, u64]),
    "ssl3d_loader_set_batch": (ST, [P, P, i32, u64]),
    "ssl3d_loader_set_threads": (ST, [P, P, i32, i32]),
    "ssl3d_loader_set_preprocess": (ST, [P, P, u32, i64, F64P]),
    "ssl3d_loader_create_files": (ST, [P, C.POINTER(STR), i32, i32, PP]),
    "ssl3d_loader_num_volumes": (i64, [P]),
    "ssl3d_loader_volume_path": (STR, [P, i64]),
    "ssl3d_loader_count": (ST, [P, P, I64P]),
    "ssl3d_loader_item": (ST, [P, P, i64, PP]),
    "ssl3d_loader_batch": (ST, [P, P, i64, C.c_void_p]),
    "ssl3d_loader_batch_size": (i32, [P]),
    "ssl3d_pretrain_config_init": (None, [C.POINTER(PretrainConfig)]),
    "ssl3d_pretrain_run": (ST, [P, P, C.POINTER(PretrainConfig), PRETRAIN_LOG_FN, C.c_void_p]),
    "ssl3d_pretrain_inputs_config_init": (None, [C.POINTER(PretrainInputsConfig)]),
    "ssl3d_pretrain_inputs_create": (ST, [P, C.POINTER(PretrainInputsConfig), PP]),
    "ssl3d_pretrain_inputs_release": (None, [P]),
    "ssl3d_pretrain_inputs_task": (P, [P]),
    "ssl3d_pretrain_inputs_loader": (P, [P]),
    "ssl3d_pretrain_inputs_batch": (i32, [P]),
    "ssl3d_pretrain_inputs_train_count": (i64, [P]),
    "ssl3d_pretrain_inputs_steps_per_epoch": (i64, [P]),
    "ssl3d_pretrain_inputs_min_size": (i64, [P]),
    "ssl3d_pretrain_inputs_val_count": (i64, [P]),
    "ssl3d_pretrain_inputs_val_image": (P, [P, i64]),
    "ssl3d_pretrain_inputs_unsplit": (i32, [P]),
    "ssl3d_pretrain_inputs_fill_config": (ST, [P, P, C.POINTER(PretrainConfig)]),
    # fine-tuning
    "ssl3d_ftmodel_create": (ST, [P, i32, i32, i32, i32, i32, i32, i32, i32, i32, PP]),
    "ssl3d_ftmodel_release": (None, [P]),
    "ssl3d_ftmodel_kind": (i32, [P]),
    "ssl3d_ftmodel_dims": (i32, [P]),
    "ssl3d_ftmodel_in_channels": (i32, [P]),
    "ssl3d_ftmodel_classes": (i32, [P]),
    "ssl3d_ftmodel_levels": (i32, [P]),
    "ssl3d_ftmodel_filters": (i32, [P]),
    "ssl3d_ftmodel_norm": (i32, [P]),
    "ssl3d_ftmodel_encoder": (P, [P]),
    "ssl3d_ftmodel_head": (P, [P]),
    "ssl3d_ftmodel_load_encoder": (ST, [P, P, P, STR]),
    "ssl3d_ftmodel_encoder_spec": (ST, [P, P, I32P, I32P, I32P, I32P, I32P]),
    "ssl3d_ftmodel_forward": (ST, [P, P, P, i32, i32, PP]),
    "ssl3d_ftmodel_save": (ST, [P, P, P]),
    "ssl3d_ftmodel_create_from_checkpoint": (ST, [P, P, PP]),
    "ssl3d_ft_select_cases": (ST, [P, P, i32, STR, I64P, i64, I64P]),
    "ssl3d_ft_evaluate": (ST, [P, P, P, I64P, i64, i32, f32, STR, PP]),
    "ssl3d_ft_evaluate_ensemble": (ST, [P, PP, i32, P, I64P, i64, i32, f32, STR, PP]),
    "ssl3d_ftresult_release": (None, [P]),
    "ssl3d_ftresult_json": (STR, [P]),
    "ssl3d_ft_train": (ST, [P, P, P, I64P, i64, STR, EPOCH_FN, C.c_void_p]),
}

for _name, (_res, _args) in _PROTOS.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args
