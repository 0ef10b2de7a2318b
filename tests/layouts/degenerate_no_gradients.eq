% Only const leaves: nothing gets a gradient, so the generated backward has
% nothing to write and must not warn about `grads`.
const c_i, 0 \le i < n
x_i = 2 c_i + c_{i+1}
