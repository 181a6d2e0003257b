// CUDA registration of pygan::upfirdn2d: checks and geometry
// (upfirdn2d_checks.h), around the launcher of upfirdn2d.cu. The input is
// read through its strides, the output comes from torch's caching allocator
// (channels-last exactly when the input is), and the kernel runs on the
// current stream: nothing here synchronizes. Only torch's stable ABI is used
// (see stable_utils.h; cuda_stable.h).
#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>

#include <vector>

#include "cuda_stable.h"
#include "upfirdn2d.cuh"
#include "upfirdn2d_checks.h"

namespace pygan {
namespace {

cuda::ResampleAxisArgs axis_args(const ResampleAxis& a) {
  return cuda::ResampleAxisArgs{a.size, a.up, a.down, a.pad0, a.taps, a.out};
}

Tensor upfirdn2d_cuda(const Tensor& x, const Tensor& f, const std::vector<int64_t>& up,
                      const std::vector<int64_t>& down, const std::vector<int64_t>& padding, bool flip_filter,
                      double gain) {
  PYGAN_CHECK(x.is_cuda(), kUpfirdnOp, ": the input must be a CUDA tensor, got ", DeviceName{x.device()});
  const cuda::DType dtype = cuda_dtype(x, kUpfirdnOp);
  const ResampleGeometry g = check_upfirdn2d(x, f, up, down, padding);
  const torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  Tensor out = upfirdn2d_output(x, g);
  const Tensor f_c = torch::stable::contiguous(f);
  cuda::Upfirdn2dArgs args{g.batch, g.channels, axis_args(g.x), axis_args(g.y), {}, {}, g.channels_last,
                           flip_filter, gain, x.const_data_ptr(), f_c.const_data_ptr(), out.mutable_data_ptr()};
  for (int d = 0; d < 4; ++d) {
    args.x_strides[d] = x.stride(d);
    args.out_strides[d] = out.stride(d);
  }
  STD_CUDA_CHECK(cuda::upfirdn2d(dtype, args, current_stream(x)));
  return out;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(pygan, CUDA, m) { m.impl("upfirdn2d", TORCH_BOX(&upfirdn2d_cuda)); }

}  // namespace pygan
