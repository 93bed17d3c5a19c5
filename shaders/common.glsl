// shaders/common.glsl — shared by every kernel: the workgroup size (a specialization constant,
// so a device can be given its best size without recompiling) and 64-bit-free index math.
#extension GL_GOOGLE_include_directive : require
layout(local_size_x_id = 0) in;
