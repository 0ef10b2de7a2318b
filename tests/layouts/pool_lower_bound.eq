% Window variables with nonzero lower bounds: \max_{a=1}^{2}, and a 2-D
% window from (1,2).
% test-sizes: L=10, H=7, W=9
input s_p, 0 \le p < L
input x_{p,q}, 0 \le p < H, 0 \le q < W
t_i = \max_{a=1}^{2} s_{2i+a}
y_{i,j} = \max_{a=1}^{2} \max_{b=2}^{4} x_{3i+a,3j+b}
output t, y
