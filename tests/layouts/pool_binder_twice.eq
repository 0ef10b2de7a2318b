% A row binder that appears in two indices (x_{a,a,2j+b}: a diagonal of
% rows), and a const input pooled next to a param.
% test-sizes: D=3, W=8
input x_{p,r,q}, 0 \le p < D, 0 \le r < D, 0 \le q < W
const k_{p,q}, 0 \le p < D, 0 \le q < W
param w_{p,q}, 0 \le p < D, 0 \le q < W
y_j = \max_{0 \le a < 2, 0 \le b < 2} x_{a,a,2j+b}
z_{i,j} = \max_{0 \le b < 2} k_{i,2j+b} + \max_{0 \le b < 2} w_{i,2j+b}
output y, z
