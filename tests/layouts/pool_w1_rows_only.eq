% Width 1 along the last index: the window only spans rows (2 rows,
% stride 2), the last index moves with the row variable at stride 1;
% and a 1-wide column binder written out.
% test-sizes: H=7, W=5
input x_{p,q}, 0 \le p < H, 0 \le q < W
y_{i,j} = \max_{0 \le a < 2} x_{2i+a,j}
z_{i,j} = \max_{0 \le a < 3, 0 \le b < 1} x_{3i+a,j+b}
output y, z
