% Maxima over small windows that tile rows (the pooling rows of the code
% generator, with the forward's record of each arg-max): a stride wider
% than the window, so a row's last window sits in the last chunk of its
% slice; a 3-D window (four rows of the input per row of windows); the
% column binder first and three rows per window; a 1-D window with an
% offset; rows read backwards; and a pool of a defined tensor whose
% adjoint comes from a later statement, not from a seed.
% test-sizes: C=2, H=7, W=8, D=4, L=10
input x_{c,p,q}, 0 \le c < C, 0 \le p < H, 0 \le q < W
input v_{p,q,r}, 0 \le p < D, 0 \le q < D, 0 \le r < D
input s_p, 0 \le p < L
param w_c, 0 \le c < C
y_{c,i,j} = \max_{0 \le a < 2, 0 \le b < 2} x_{c,3i+a,3j+b}
z_{i,j,k} = \max_{0 \le a < 2} \max_{0 \le b < 2} \max_{0 \le e < 2} v_{2i+a,2j+b,2k+e}
u_{c,i,j} = \max_{0 \le b < 2} \max_{0 \le a < 3} x_{c,3i+a,2j+b}
t_i = \max_{0 \le a < 3} s_{3i+a+1}
f_{c,i,j} = \max_{0 \le a < 2, 0 \le b < 2} x_{c,H-1-2i-a,2j+b}
h_{c,p,q} = \tanh(x_{c,p,q}) w_c
g_{c,i,j} = \max_{0 \le a < 2, 0 \le b < 2} h_{c,2i+a,2j+b}
k_{c,i,j} = g_{c,i,j} g_{c,i,j} + w_c
output y, z, u, t, f, k
