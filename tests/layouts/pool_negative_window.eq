% Windows ranging below zero: \max_{a=-1}^{1} with an offset that keeps
% the reads inside; and one whose inferred range starts at i = 1.
% test-sizes: L=13, H=7, W=9
input s_p, 0 \le p < L
input x_{p,q}, 0 \le p < H, 0 \le q < W
t_i = \max_{a=-1}^{1} s_{3i+a+1}
r_i = \max_{a=-1}^{0} s_{2i+a}
y_{i,j} = \max_{a=-1}^{0} \max_{b=-1}^{1} x_{2i+a+1,3j+b+1}
output t, r, y
