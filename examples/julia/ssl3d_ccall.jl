# Calling libssl3d from Julia with ccall (documented example; Julia is not packaged in
# Debian 12, so this file is not run by the test suite).
#
#   julia examples/julia/ssl3d_ccall.jl
const lib = joinpath(@__DIR__, "..", "..", "lib", "libssl3d.so.0")

version() = unsafe_string(ccall((:ssl3d_version, lib), Cstring, ()))

function check(ctx, status)
    status == 0 && return
    msg = unsafe_string(ccall((:ssl3d_ctx_last_error, lib), Cstring, (Ptr{Cvoid},), ctx))
    error("libssl3d status $status: $msg")
end

println("libssl3d ", version())
ctx = Ref{Ptr{Cvoid}}(C_NULL)
check(C_NULL, ccall((:ssl3d_ctx_create, lib), Cint, (Int32, Ref{Ptr{Cvoid}}), 0, ctx))
check(ctx[], ccall((:ssl3d_ctx_set_seed, lib), Cint, (Ptr{Cvoid}, UInt64), ctx[], 7))
# A (1, 4, 4, 4) volume in C (row-major) order: Julia arrays are column-major, so pass the
# dimensions reversed or permute first.
vol = Float32.(reshape(0:63, 4, 4, 4, 1))
shape = Int64[1, 4, 4, 4]
t = Ref{Ptr{Cvoid}}(C_NULL)
check(ctx[], ccall((:ssl3d_tensor_from_data, lib), Cint,
                   (Ptr{Cvoid}, Int32, Int32, Ptr{Int64}, Ptr{Float32}, Ref{Ptr{Cvoid}}),
                   ctx[], 0, 4, shape, vol, t))
rot = Ref{Ptr{Cvoid}}(C_NULL)
check(ctx[], ccall((:ssl3d_rotation_apply, lib), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Int32, Ref{Ptr{Cvoid}}),
                   ctx[], t[], 1, rot))
n = ccall((:ssl3d_tensor_numel, lib), Int64, (Ptr{Cvoid},), rot[])
out = Vector{Float32}(undef, n)
check(ctx[], ccall((:ssl3d_tensor_read, lib), Cint, (Ptr{Cvoid}, Ptr{Cvoid}, Ptr{Float32}, Int64),
                   ctx[], rot[], out, 4n))
println("rotated sum equals input sum: ", sum(out) == sum(vol))
ccall((:ssl3d_tensor_release, lib), Cvoid, (Ptr{Cvoid},), t[])
ccall((:ssl3d_tensor_release, lib), Cvoid, (Ptr{Cvoid},), rot[])
ccall((:ssl3d_ctx_release, lib), Cvoid, (Ptr{Cvoid},), ctx[])
