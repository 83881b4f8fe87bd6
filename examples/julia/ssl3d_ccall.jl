# Calling libssl3d from Julia with ccall.
#
#   julia examples/julia/ssl3d_ccall.jl
#
# NOT RUN: Julia is not packaged in Debian 12, so neither the authors' machines nor CI have
# run this file (python/tests/test_examples.py runs it, and checks "order ok", only where a
# `julia` is on PATH). It is written against the documented C ABI.
#
# Array order. libssl3d tensors are row-major (C order): a (C, D, H, W) tensor has W
# varying fastest in memory. Julia arrays are column-major: the FIRST index varies fastest.
# So a Julia array of size (W, H, D, C) has exactly the memory layout of a libssl3d
# (C, D, H, W) tensor: pass it with the dims REVERSED, `reverse(size(a))`, and no copy is
# needed; element a[w, h, d, c] (1-based) is the tensor's x[c-1, d-1, h-1, w-1].
# If your Julia array is indexed (C, D, H, W) instead, `permutedims(a, ndims(a):-1:1)`
# gives the (W, H, D, C) layout (a copy). Results come back the same way: read numel values
# and `reshape` them to the reversed tensor shape.
const lib = joinpath(@__DIR__, "..", "..", "lib", "libssl3d.so.0")

version() = unsafe_string(ccall((:ssl3d_version, lib), Cstring, ()))

function check(ctx, status)
    status == 0 && return
    msg = unsafe_string(ccall((:ssl3d_ctx_last_error, lib), Cstring, (Ptr{Cvoid},), ctx))
    error("libssl3d status $status: $msg")
end

tensor_shape(t) = [ccall((:ssl3d_tensor_dim, lib), Int64, (Ptr{Cvoid}, Int32), t, i)
                   for i in 0:ccall((:ssl3d_tensor_ndim, lib), Int32, (Ptr{Cvoid},), t) - 1]

# Copy a tensor out as a Julia array of the reversed shape (W, H, D, C).
function julia_array(ctx, t)
    shape = tensor_shape(t)
    out = Array{Float32}(undef, reverse(shape)...)
    check(ctx, ccall((:ssl3d_tensor_read, lib), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Float32}, Int64),
                     ctx, t, out, 4 * length(out)))
    return out
end

println("libssl3d ", version())
ctx = Ref{Ptr{Cvoid}}(C_NULL)
check(C_NULL, ccall((:ssl3d_ctx_create, lib), Cint, (Int32, Ref{Ptr{Cvoid}}), 0, ctx))
check(ctx[], ccall((:ssl3d_ctx_set_seed, lib), Cint, (Ptr{Cvoid}, UInt64), ctx[], 7))

# A one-channel 4 x 5 x 6 volume (D = 4, H = 5, W = 6) held as a Julia (W, H, D, C) array.
W, H, D, Cn = 6, 5, 4, 1
vol = Float32[1000c + 100d + 10h + w for w in 1:W, h in 1:H, d in 1:D, c in 1:Cn]
shape = Int64.(reverse(size(vol)))            # (C, D, H, W) = (1, 4, 5, 6)
t = Ref{Ptr{Cvoid}}(C_NULL)
check(ctx[], ccall((:ssl3d_tensor_from_data, lib), Cint,
                   (Ptr{Cvoid}, Int32, Int32, Ptr{Int64}, Ptr{Float32}, Ref{Ptr{Cvoid}}),
                   ctx[], 0, length(shape), shape, vol, t))
@assert tensor_shape(t[]) == [1, 4, 5, 6]
# Row-major element x[c, d, h, w] (0-based) sits at ((c*D + d)*H + h)*W + w: read x[0, 2, 3, 4]
# through the flat copy and compare with vol[w+1, h+1, d+1, c+1].
flat = Vector{Float32}(undef, W * H * D * Cn)
check(ctx[], ccall((:ssl3d_tensor_read, lib), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Float32}, Int64),
                   ctx[], t[], flat, 4 * length(flat)))
@assert flat[((0 * D + 2) * H + 3) * W + 4 + 1] == vol[5, 4, 3, 1] == 1000 + 300 + 40 + 5
# A library op that acts on named axes: flip along W (spatial axis 2 of (C, D, H, W)) must
# reverse Julia's FIRST dimension.
f = Ref{Ptr{Cvoid}}(C_NULL)
check(ctx[], ccall((:ssl3d_flip, lib), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Int32, Ref{Ptr{Cvoid}}), ctx[], t[], 2, f))
flipped = julia_array(ctx[], f[])
@assert size(flipped) == size(vol) && flipped == vol[end:-1:1, :, :, :]
println("order ok: (W,H,D,C) Julia arrays are (C,D,H,W) tensors; flip along W reversed Julia's first dim")
ccall((:ssl3d_tensor_release, lib), Cvoid, (Ptr{Cvoid},), t[])
ccall((:ssl3d_tensor_release, lib), Cvoid, (Ptr{Cvoid},), f[])
ccall((:ssl3d_ctx_release, lib), Cvoid, (Ptr{Cvoid},), ctx[])
