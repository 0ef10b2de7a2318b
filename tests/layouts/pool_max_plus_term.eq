% A max plus another term in one statement, a max times a weight, and a
% product of two maxima.
% test-sizes: B=2, L=12
input x_{b,p}, 0 \le b < B, 0 \le p < L
param w_b, 0 \le b < B
y_{b,i} = \max_{0 \le a < 2} x_{b,2i+a} + x_{b,2i+1}
z_{b,i} = w_b \max_{0 \le a < 3} x_{b,3i+a}
u_{b,i} = (\max_{0 \le a < 2} x_{b,4i+a}) (\max_{0 \le a < 2} x_{b,4i+a+2})
output y, z, u
